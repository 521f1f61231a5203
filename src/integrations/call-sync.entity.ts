import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

export const SYNC_ACTIONS = ['pop', 'hangup', 'lead', 'log', 'recording'] as const;
export type SyncAction = (typeof SYNC_ACTIONS)[number];
export type SyncStatus = 'pending' | 'done' | 'failed' | 'skipped';

@Entity('call_sync')
export class CallSync {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  @Column({ name: 'call_pk', type: 'bigint' })
  callPk: string;

  @Column({ name: 'integration_id', type: 'char', length: 36 })
  integrationId: string;

  @Column({ type: 'varchar', length: 16 })
  action: SyncAction;

  @Column({ type: 'varchar', length: 16 })
  status: SyncStatus;

  @Column({ name: 'external_id', type: 'varchar', length: 255, nullable: true })
  externalId: string | null;

  @Column({ type: 'int' })
  attempts: number;

  @Column({ name: 'last_error', type: 'varchar', length: 1000, nullable: true })
  lastError: string | null;

  @Column({ name: 'not_before', type: 'datetime', precision: 3, nullable: true })
  notBefore: Date | null;

  @Column({ name: 'created_at', type: 'datetime', precision: 3 })
  createdAt: Date;

  @Column({ name: 'updated_at', type: 'datetime', precision: 3 })
  updatedAt: Date;

  @Column({ name: 'done_at', type: 'datetime', precision: 3, nullable: true })
  doneAt: Date | null;
}
