import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { CallDirection, CallResult, CallStatus } from './call-event';

@Entity('calls')
export class Call {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  @Column({ name: 'tenant_id', type: 'char', length: 36 })
  tenantId: string;

  @Column({ name: 'call_id', type: 'varchar', length: 128 })
  callId: string;

  @Column({ type: 'varchar', length: 16 })
  direction: CallDirection;

  @Column({ type: 'varchar', length: 16 })
  status: CallStatus;

  @Column({ type: 'varchar', length: 16, nullable: true })
  result: CallResult | null;

  @Column({ name: 'from_number', type: 'varchar', length: 64, nullable: true })
  fromNumber: string | null;

  @Column({ name: 'to_number', type: 'varchar', length: 64, nullable: true })
  toNumber: string | null;

  @Column({ type: 'varchar', length: 32, nullable: true })
  extension: string | null;

  @Column({ name: 'answered_by', type: 'varchar', length: 32, nullable: true })
  answeredBy: string | null;

  @Column({ type: 'json' })
  ringing: string[];

  @Column({ type: 'int', nullable: true })
  duration: number | null;

  @Column({ name: 'started_at', type: 'datetime', precision: 3 })
  startedAt: Date;

  @Column({ name: 'answered_at', type: 'datetime', precision: 3, nullable: true })
  answeredAt: Date | null;

  @Column({ name: 'ended_at', type: 'datetime', precision: 3, nullable: true })
  endedAt: Date | null;

  @Column({ name: 'recording_url', type: 'varchar', length: 2048, nullable: true })
  recordingUrl: string | null;

  @Column({
    name: 'recording_expected',
    type: 'tinyint',
    transformer: { to: (v: boolean) => (v ? 1 : 0), from: (v: number) => v === 1 },
  })
  recordingExpected: boolean;

  @Column({ name: 'last_error', type: 'varchar', length: 1000, nullable: true })
  lastError: string | null;
}
