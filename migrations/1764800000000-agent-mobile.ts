import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * agents.mobile: the number the PBX forwards an agent's calls to (follow-me, after-hours
 * forwarding), in E.164. A call answered there is the agent's; the index finds the agent by
 * that number on the ingest path.
 */
export class AgentMobile1764800000000 implements MigrationInterface {
  name = 'AgentMobile1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE agents
         ADD COLUMN mobile VARCHAR(32) NULL,
         ADD KEY ix_agents_mobile (tenant_id, mobile)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE agents DROP KEY ix_agents_mobile, DROP COLUMN mobile');
  }
}
