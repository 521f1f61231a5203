import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Integrations keep OAuth tokens apart from the credentials an admin gave (the core
 * refreshes them, versioned so two writers never interleave), and say `connected`,
 * `needs_auth` or `needs_reauth`. CRM actions that waited for a re-authorised
 * integration count their age from when it came back (`resumed_at`).
 */
export class IntegrationAuth1764400000000 implements MigrationInterface {
  name = 'IntegrationAuth1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE integrations ADD COLUMN tokens_enc TEXT NULL AFTER credentials_enc');
    await q.query(
      'ALTER TABLE integrations ADD COLUMN tokens_version INT NOT NULL DEFAULT 0 AFTER tokens_enc',
    );
    await q.query("UPDATE integrations SET status = 'connected' WHERE status = 'active'");
    await q.query("UPDATE integrations SET status = 'needs_reauth' WHERE status = 'auth_invalid'");
    await q.query('ALTER TABLE call_sync ADD COLUMN resumed_at DATETIME(3) NULL AFTER created_at');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE call_sync DROP COLUMN resumed_at');
    await q.query("UPDATE integrations SET status = 'auth_invalid' WHERE status = 'needs_reauth'");
    await q.query(
      "UPDATE integrations SET status = 'active' WHERE status IN ('connected', 'needs_auth')",
    );
    await q.query('ALTER TABLE integrations DROP COLUMN tokens_version');
    await q.query('ALTER TABLE integrations DROP COLUMN tokens_enc');
  }
}
