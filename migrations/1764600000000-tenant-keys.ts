import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * tenant_keys: extra API keys of a tenant with a narrower scope than its apiKey ("pbx": send PBX
 * events and ask for routes, nothing else), so a key written into a dialplan cannot manage the
 * tenant. Only a SHA-256 of each key is kept (the keys are 256-bit random: a plain hash is a
 * sound lookup key); key_hash is unique so a key finds its row directly.
 *
 * tenants.dial_policy: which destinations click-to-call may dial (NULL: the tenant's own
 * defaultCountry only, no premium-rate numbers).
 */
export class TenantKeys1764600000000 implements MigrationInterface {
  name = 'TenantKeys1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE tenant_keys (
      id CHAR(36) NOT NULL PRIMARY KEY,
      tenant_id CHAR(36) NOT NULL,
      name VARCHAR(100) NOT NULL,
      scope VARCHAR(16) NOT NULL,
      key_hash CHAR(64) NOT NULL,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      last_used_at DATETIME(3) NULL,
      UNIQUE KEY ux_tenant_keys_hash (key_hash),
      KEY ix_tenant_keys_tenant (tenant_id, created_at),
      CONSTRAINT fk_tenant_keys_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
    await q.query('ALTER TABLE tenants ADD COLUMN dial_policy JSON NULL AFTER recording_wait_s');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE tenants DROP COLUMN dial_policy');
    await q.query('DROP TABLE tenant_keys');
  }
}
