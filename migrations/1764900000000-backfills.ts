import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * backfills: imports of a period of a PBX's own call history, with their progress. The calls
 * themselves go in as events, deduplicated like any others. An instance claims a due backfill
 * (claimed_until) and runs it; one whose instance died is claimed again once the claim lapses.
 */
export class Backfills1764900000000 implements MigrationInterface {
  name = 'Backfills1764900000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE backfills (
      id CHAR(36) NOT NULL PRIMARY KEY,
      tenant_id CHAR(36) NOT NULL,
      source_id CHAR(36) NOT NULL,
      from_at DATETIME(3) NOT NULL,
      to_at DATETIME(3) NOT NULL,
      status VARCHAR(16) NOT NULL,
      seen INT NOT NULL DEFAULT 0,
      imported INT NOT NULL DEFAULT 0,
      known INT NOT NULL DEFAULT 0,
      error VARCHAR(500) NULL,
      attempts INT NOT NULL DEFAULT 0,
      not_before DATETIME(3) NOT NULL,
      claimed_until DATETIME(3) NULL,
      created_at DATETIME(3) NOT NULL,
      updated_at DATETIME(3) NOT NULL,
      KEY ix_backfills_tenant (tenant_id, created_at),
      KEY ix_backfills_due (status, not_before),
      CONSTRAINT fk_backfills_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE backfills');
  }
}
