import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { NormalizedEvent } from './call-event';

@Entity('call_events')
export class CallEventRow {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  @Column({ name: 'tenant_id', type: 'char', length: 36 })
  tenantId: string;

  @Column({ name: 'event_id', type: 'varchar', length: 128 })
  eventId: string;

  @Column({ name: 'call_id', type: 'varchar', length: 128 })
  callId: string;

  @Column({ type: 'varchar', length: 32 })
  type: string;

  @Column({ name: 'occurred_at', type: 'datetime', precision: 3 })
  occurredAt: Date;

  @Column({ type: 'json' })
  payload: NormalizedEvent;

  @Column({ name: 'received_at', type: 'datetime', precision: 3 })
  receivedAt: Date;

  @Column({ name: 'processed_at', type: 'datetime', precision: 3, nullable: true })
  processedAt: Date | null;

  @Column({ name: 'process_count', type: 'int' })
  processCount: number;
}
