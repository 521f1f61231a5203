import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Privacy mode. tenants.privacy: the tenant's settings (`{clientCodes}`). client_codes: each
 * outside number of a tenant and its random numeric code, unique both ways. audit_log: every
 * answer to a request for a client's number, by client and time.
 */
export class Privacy1765000000000 implements MigrationInterface {
  name = 'Privacy1765000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE tenants ADD COLUMN privacy JSON NULL');
    await q.query(`CREATE TABLE client_codes (
      tenant_id CHAR(36) NOT NULL,
      number VARCHAR(64) NOT NULL,
      code VARCHAR(12) NOT NULL,
      created_at DATETIME(3) NOT NULL,
      PRIMARY KEY (tenant_id, number),
      UNIQUE KEY ux_client_codes_code (tenant_id, code),
      CONSTRAINT fk_client_codes_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
    await q.query(`CREATE TABLE audit_log (
      id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      tenant_id CHAR(36) NOT NULL,
      at DATETIME(3) NOT NULL,
      action VARCHAR(16) NOT NULL,
      extension VARCHAR(32) NULL,
      client_code VARCHAR(12) NULL,
      call_id VARCHAR(128) NULL,
      granted TINYINT(1) NOT NULL,
      reason VARCHAR(200) NOT NULL,
      KEY ix_audit_client (tenant_id, client_code, at),
      KEY ix_audit_at (tenant_id, at),
      CONSTRAINT fk_audit_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TABLE audit_log');
    await q.query('DROP TABLE client_codes');
    await q.query('ALTER TABLE tenants DROP COLUMN privacy');
  }
}
