import { Column, CreateDateColumn, Entity, PrimaryColumn, UpdateDateColumn } from 'typeorm';

export type IntegrationStatus = 'active' | 'auth_invalid' | 'error';

export interface IntegrationSettings {
  popOnRinging: boolean;
  logCalls: boolean;
  attachRecordings: boolean;
  createLeadFor: 'missed' | 'unknown' | 'none';
  routeToResponsible: boolean;
}

export const DEFAULT_SETTINGS: IntegrationSettings = {
  popOnRinging: true,
  logCalls: true,
  attachRecordings: true,
  createLeadFor: 'missed',
  routeToResponsible: true,
};

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
