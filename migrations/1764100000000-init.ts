import { MigrationInterface, QueryRunner } from 'typeorm';

export class Init1764100000000 implements MigrationInterface {
  name = 'Init1764100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE tenants (
      id CHAR(36) NOT NULL PRIMARY KEY,
      name VARCHAR(200) NOT NULL,
      default_country CHAR(2) NOT NULL,
      timezone VARCHAR(64) NOT NULL,
      routing_budget_ms INT NOT NULL,
      recording_wait_s INT NOT NULL,
      api_key_hash CHAR(64) NOT NULL,
      webhook_secret_enc TEXT NOT NULL,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);

    await q.query(`CREATE TABLE pbx_sources (
      id CHAR(36) NOT NULL PRIMARY KEY,
      tenant_id CHAR(36) NOT NULL,
      type VARCHAR(16) NOT NULL,
      config JSON NOT NULL,
      credentials_enc TEXT NULL,
      status VARCHAR(32) NOT NULL,
      status_message VARCHAR(500) NULL,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
      KEY ix_pbx_sources_tenant (tenant_id),
      CONSTRAINT fk_pbx_sources_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);

    await q.query(`CREATE TABLE integrations (
      id CHAR(36) NOT NULL PRIMARY KEY,
      tenant_id CHAR(36) NOT NULL,
      connector VARCHAR(64) NOT NULL,
      enabled TINYINT(1) NOT NULL DEFAULT 1,
      config JSON NOT NULL,
      credentials_enc TEXT NOT NULL,
      settings JSON NOT NULL,
      status VARCHAR(32) NOT NULL,
      status_message VARCHAR(500) NULL,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
      KEY ix_integrations_tenant (tenant_id),
      CONSTRAINT fk_integrations_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);

    await q.query(`CREATE TABLE agents (
      id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      tenant_id CHAR(36) NOT NULL,
      extension VARCHAR(32) NOT NULL,
      name VARCHAR(200) NULL,
      UNIQUE KEY ux_agents_extension (tenant_id, extension),
      CONSTRAINT fk_agents_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);

    await q.query(`CREATE TABLE agent_crm_users (
      agent_id BIGINT NOT NULL,
      integration_id CHAR(36) NOT NULL,
      crm_user_id VARCHAR(64) NOT NULL,
      PRIMARY KEY (agent_id, integration_id),
      KEY ix_agent_crm_users_user (integration_id, crm_user_id),
      CONSTRAINT fk_agent_crm_users_agent FOREIGN KEY (agent_id) REFERENCES agents(id) ON DELETE CASCADE,
      CONSTRAINT fk_agent_crm_users_integration FOREIGN KEY (integration_id) REFERENCES integrations(id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);

    await q.query(`CREATE TABLE calls (
      id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      tenant_id CHAR(36) NOT NULL,
      call_id VARCHAR(128) NOT NULL,
      direction VARCHAR(16) NOT NULL,
      status VARCHAR(16) NOT NULL,
      result VARCHAR(16) NULL,
      from_number VARCHAR(64) NULL,
      to_number VARCHAR(64) NULL,
      extension VARCHAR(32) NULL,
      answered_by VARCHAR(32) NULL,
      ringing JSON NOT NULL,
      duration INT NULL,
      started_at DATETIME(3) NOT NULL,
      answered_at DATETIME(3) NULL,
      ended_at DATETIME(3) NULL,
      recording_url VARCHAR(2048) NULL,
      recording_expected TINYINT(1) NOT NULL DEFAULT 0,
      last_error VARCHAR(1000) NULL,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
      UNIQUE KEY ux_calls_call_id (tenant_id, call_id),
      KEY ix_calls_started (tenant_id, started_at, id),
      CONSTRAINT fk_calls_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);

    // Events are the durable inbox: stored before the 2xx, processed by jobs, swept when a job got lost.
    await q.query(`CREATE TABLE call_events (
      id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      tenant_id CHAR(36) NOT NULL,
      event_id VARCHAR(128) NOT NULL,
      call_id VARCHAR(128) NOT NULL,
      type VARCHAR(32) NOT NULL,
      occurred_at DATETIME(3) NOT NULL,
      payload JSON NOT NULL,
      received_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      processed_at DATETIME(3) NULL,
      process_count INT NOT NULL DEFAULT 0,
      UNIQUE KEY ux_call_events_event_id (tenant_id, event_id),
      KEY ix_call_events_call (tenant_id, call_id),
      KEY ix_call_events_pending (processed_at, received_at),
      CONSTRAINT fk_call_events_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);

    // One row per call x integration x action: the ledger that keeps CRM writes exactly-once.
    await q.query(`CREATE TABLE call_sync (
      id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      call_pk BIGINT NOT NULL,
      integration_id CHAR(36) NOT NULL,
      action VARCHAR(16) NOT NULL,
      status VARCHAR(16) NOT NULL,
      external_id VARCHAR(255) NULL,
      attempts INT NOT NULL DEFAULT 0,
      last_error VARCHAR(1000) NULL,
      not_before DATETIME(3) NULL,
      created_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      updated_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
      done_at DATETIME(3) NULL,
      UNIQUE KEY ux_call_sync (call_pk, integration_id, action),
      KEY ix_call_sync_pending (status, updated_at),
      CONSTRAINT fk_call_sync_call FOREIGN KEY (call_pk) REFERENCES calls(id) ON DELETE CASCADE,
      CONSTRAINT fk_call_sync_integration FOREIGN KEY (integration_id) REFERENCES integrations(id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);

    // Small per-call state a connector keeps between actions (e.g. a CRM's own call id).
    await q.query(`CREATE TABLE connector_call_state (
      call_pk BIGINT NOT NULL,
      integration_id CHAR(36) NOT NULL,
      state_key VARCHAR(64) NOT NULL,
      value JSON NOT NULL,
      PRIMARY KEY (call_pk, integration_id, state_key),
      CONSTRAINT fk_ccs_call FOREIGN KEY (call_pk) REFERENCES calls(id) ON DELETE CASCADE,
      CONSTRAINT fk_ccs_integration FOREIGN KEY (integration_id) REFERENCES integrations(id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of [
      'connector_call_state',
      'call_sync',
      'call_events',
      'calls',
      'agent_crm_users',
      'agents',
      'integrations',
      'pbx_sources',
      'tenants',
    ]) {
      await q.query(`DROP TABLE IF EXISTS ${table}`);
    }
  }
}
