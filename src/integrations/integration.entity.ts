import { ConnectorSettings, DEFAULT_CONNECTOR_SETTINGS } from '../connector-sdk';
import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

/**
 * connected: working. needs_auth: an OAuth connector waiting for its first grant.
 * needs_reauth: the CRM refused the credentials or grant; actions wait, nothing is lost.
 * error: something else an admin must look at (statusMessage says what).
 */
export const INTEGRATION_STATUSES = ['connected', 'needs_auth', 'needs_reauth', 'error'] as const;
export type IntegrationStatus = (typeof INTEGRATION_STATUSES)[number];

/** The settings connectors read too (the SDK defines them). */
export type IntegrationSettings = ConnectorSettings;

export const DEFAULT_SETTINGS: IntegrationSettings = DEFAULT_CONNECTOR_SETTINGS;

@Entity('integrations')
export class Integration {
  @PrimaryColumn({ type: 'char', length: 36 })
  id: string;

  @Column({ name: 'tenant_id', type: 'char', length: 36 })
  tenantId: string;

  @Column({ type: 'varchar', length: 64 })
  connector: string;

  @Column({
    type: 'tinyint',
    width: 1,
    transformer: { to: (v: boolean) => (v ? 1 : 0), from: (v: number) => v === 1 },
  })
  enabled: boolean;

  @Column({ type: 'json' })
  config: Record<string, unknown>;

  @Column({ name: 'credentials_enc', type: 'text' })
  credentialsEnc: string;

  /** OAuth tokens, sealed like the credentials; written only by the token vault. */
  @Column({ name: 'tokens_enc', type: 'text', nullable: true, select: false })
  tokensEnc: string | null;

  @Column({ name: 'tokens_version', type: 'int', select: false })
  tokensVersion: number;

  @Column({ type: 'json' })
  settings: IntegrationSettings;

  @Column({ type: 'varchar', length: 32 })
  status: IntegrationStatus;

  @Column({ name: 'status_message', type: 'varchar', length: 500, nullable: true })
  statusMessage: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt: Date;

  @UpdateDateColumn({ name: 'updated_at', type: 'datetime', precision: 3 })
  updatedAt: Date;
}

export function needsAuth(integration: Pick<Integration, 'status'>): boolean {
  return integration.status === 'needs_auth' || integration.status === 'needs_reauth';
}
