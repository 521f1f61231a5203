import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { jsonColumn, placeholders, Sql, sqlTime } from '../common/sql';
import type { EventType, NormalizedEvent } from './call-event';

/** A row of call_events: the durable inbox every accepted PBX event lands in. */
export interface CallEventRow {
  id: string;
  tenant_id: string;
  event_id: string;
  call_id: string;
  type: EventType;
  occurred_at: Date;
  payload: string | NormalizedEvent;
  received_at: Date;
  processed_at: Date | null;
  process_count: number;
  ingest_batch: string | null;
  /** Failed processing attempts of the event's call while it was unprocessed. */
  fail_count: number;
  /** Set when the call kept failing: the event is set aside, no longer swept. */
  failed_at: Date | null;
  last_error: string | null;
}

export interface CallRef {
  tenantId: string;
  callId: string;
}

export interface StoredEvent {
  event: NormalizedEvent;
  receivedAt: Date;
  processed: boolean;
}

export const payloadOf = (row: Pick<CallEventRow, 'payload'>): NormalizedEvent =>
  jsonColumn<NormalizedEvent>(row.payload);

/** The SQL of call_events, and nothing else. */
@Injectable()
export class CallEventsRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /**
   * One INSERT IGNORE for every tenant's events in the group, tagged with `batch`.
   * Returns, per tenant entry, how many of its events were new (the first claimant of an id wins).
   */
  async insertGroup(
    items: { tenantId: string; events: NormalizedEvent[] }[],
    batch: number,
    receivedAt: Date,
  ): Promise<number[]> {
    const params: unknown[] = [];
    let total = 0;
    for (const { tenantId, events } of items) {
      for (const ev of events) {
        params.push(
          tenantId,
          ev.id,
          ev.callId,
          ev.type,
          sqlTime(ev.at),
          JSON.stringify(ev),
          sqlTime(receivedAt),
          batch,
        );
        total++;
      }
    }
    const res = (await this.db.query(
      `INSERT IGNORE INTO call_events (tenant_id, event_id, call_id, type, occurred_at, payload, received_at, ingest_batch)
       VALUES ${Array.from({ length: total }, () => '(?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
      params,
    )) as { affectedRows: number };
    if (res.affectedRows === total) return items.map((i) => i.events.length);

    // Some were duplicates: find which rows this statement wrote.
    const keys = items.flatMap((i) => i.events.map((e) => [i.tenantId, e.id]));
    const rows = (await this.db.query(
      `SELECT tenant_id, event_id FROM call_events WHERE ingest_batch = ? AND (tenant_id, event_id) IN (${keys
        .map(() => '(?, ?)')
        .join(', ')})`,
      [batch, ...keys.flat()],
    )) as Pick<CallEventRow, 'tenant_id' | 'event_id'>[];
    const fresh = new Set(rows.map((r) => `${r.tenant_id}\u0000${r.event_id}`));
    return items.map(({ tenantId, events }) => {
      let n = 0;
      for (const ev of events) if (fresh.delete(`${tenantId}\u0000${ev.id}`)) n++;
      return n;
    });
  }

  /** Every event of the calls, locked for the transaction, in storage order per call. */
  async lockForCalls(tx: Sql, refs: CallRef[]): Promise<CallEventRow[]> {
    const byTenant = new Map<string, string[]>();
    for (const r of refs) byTenant.set(r.tenantId, [...(byTenant.get(r.tenantId) ?? []), r.callId]);
    const where = [...byTenant.values()].map(
      (ids) => `(tenant_id = ? AND call_id IN (${placeholders(ids.length)}))`,
    );
    return (await tx.query(
      `SELECT id, tenant_id, call_id, payload, processed_at FROM call_events
       WHERE ${where.join(' OR ')} ORDER BY tenant_id, call_id, id FOR UPDATE`,
      [...byTenant.entries()].flatMap(([tenantId, ids]) => [tenantId, ...ids]),
    )) as CallEventRow[];
  }

  async markProcessed(tx: Sql, ids: string[], at: Date): Promise<void> {
    await tx.query(
      `UPDATE call_events SET processed_at = ?, process_count = process_count + 1 WHERE id IN (${placeholders(ids.length)})`,
      [sqlTime(at), ...ids],
    );
  }

  /** A call's events in the order they happened, for the call detail. */
  async forCall(tx: Sql, tenantId: string, callId: string): Promise<StoredEvent[]> {
    const rows = (await tx.query(
      'SELECT payload, received_at, processed_at FROM call_events WHERE tenant_id = ? AND call_id = ? ORDER BY occurred_at, id',
      [tenantId, callId],
    )) as Pick<CallEventRow, 'payload' | 'received_at' | 'processed_at'>[];
    return rows.map((r) => ({
      event: payloadOf(r),
      receivedAt: new Date(r.received_at),
      processed: r.processed_at !== null,
    }));
  }

  /**
   * Calls with events stored before `before` and still unprocessed (for the sweeper), not
   * set aside as failed. Fair: tenants take turns (each one's oldest call first), so one
   * tenant's backlog never fills the sweep.
   */
  async unprocessedCalls(before: Date, limit: number): Promise<CallRef[]> {
    const rows = (await this.db.query(
      `SELECT tenant_id, call_id FROM (
         SELECT tenant_id, call_id, MIN(received_at) AS first_at,
           ROW_NUMBER() OVER (PARTITION BY tenant_id ORDER BY MIN(received_at)) AS turn
         FROM call_events WHERE processed_at IS NULL AND failed_at IS NULL AND received_at < ?
         GROUP BY tenant_id, call_id) AS due
       ORDER BY turn, first_at LIMIT ?`,
      [sqlTime(before), limit],
    )) as Pick<CallEventRow, 'tenant_id' | 'call_id'>[];
    return rows.map((r) => ({ tenantId: r.tenant_id, callId: r.call_id }));
  }

  /**
   * Counts a failed attempt on the call's unprocessed events; after `maxFailures` they are
   * set aside (failed_at) and no longer swept. Returns whether the call is now failed.
   */
  async recordFailure(
    ref: CallRef,
    message: string,
    at: Date,
    maxFailures: number,
  ): Promise<{ failures: number; failed: boolean }> {
    await this.db.query(
      `UPDATE call_events SET failed_at = IF(fail_count + 1 >= ?, ?, failed_at),
         fail_count = fail_count + 1, last_error = ?
       WHERE tenant_id = ? AND call_id = ? AND processed_at IS NULL`,
      [maxFailures, sqlTime(at), message.slice(0, 1000), ref.tenantId, ref.callId],
    );
    const [row] = (await this.db.query(
      `SELECT MAX(fail_count) AS failures, MAX(failed_at IS NOT NULL) AS failed FROM call_events
       WHERE tenant_id = ? AND call_id = ? AND processed_at IS NULL`,
      [ref.tenantId, ref.callId],
    )) as { failures: number | null; failed: number | null }[];
    return { failures: Number(row?.failures ?? 0), failed: Number(row?.failed ?? 0) === 1 };
  }

  /** When the hub received the call's latest ringing event (pop latency is measured from it). */
  async lastRingingReceivedAt(tenantId: string, callId: string): Promise<Date | null> {
    const [row] = (await this.db.query(
      "SELECT MAX(received_at) AS received FROM call_events WHERE tenant_id = ? AND call_id = ? AND type = 'call.ringing'",
      [tenantId, callId],
    )) as { received: Date | null }[];
    return row?.received ? new Date(row.received) : null;
  }
}
