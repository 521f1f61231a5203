import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { jsonColumn, Sql, sqlTime } from '../common/sql';
import type { CallDirection, CallResult, CallStatus } from './call-event';
import type { CallRef } from './call-events.repository';
import type { CallState } from './call-state';

/** A row of calls: the state of one call, as its events describe it. */
export interface CallRow {
  id: string;
  tenant_id: string;
  call_id: string;
  direction: CallDirection;
  status: CallStatus;
  result: CallResult | null;
  from_number: string | null;
  to_number: string | null;
  extension: string | null;
  answered_by: string | null;
  ringing: string | string[];
  duration: number | null;
  started_at: Date;
  answered_at: Date | null;
  ended_at: Date | null;
  recording_url: string | null;
  recording_expected: number;
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
}

export const ringingOf = (row: Pick<CallRow, 'ringing'>): string[] =>
  jsonColumn<string[]>(row.ringing);

export interface CallListFilter {
  since?: Date;
  until?: Date;
  result?: CallResult;
  /** Keyset position: calls strictly older than this one. */
  before?: { startedAt: Date; id: string };
  limit: number;
  direction?: CallDirection;
  /** The agent who had, answered or was rung by the call. */
  extension?: string;
  /** The company number, E.164 (or as the PBX sent it). */
  line?: string;
  /** Conditions rooms above calls add (a CRM action's state), on the `calls` row. */
  extra?: { sql: string; params: unknown[] }[];
}

const key = (r: CallRef) => `${r.tenantId}\u0000${r.callId}`;

/** The SQL of calls, and nothing else. */
@Injectable()
export class CallsRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /** Writes the folded state of each call in one statement (inserting calls seen for the first time). */
  async upsert(tx: Sql, calls: { ref: CallRef; state: CallState }[]): Promise<void> {
    const params: unknown[] = [];
    for (const { ref, state: s } of calls) {
      params.push(
        ref.tenantId,
        ref.callId,
        s.direction,
        s.status,
        s.result,
        s.from,
        s.to,
        s.extension,
        s.answeredBy,
        JSON.stringify(s.ringing),
        s.duration,
        sqlTime(s.startedAt),
        s.answeredAt ? sqlTime(s.answeredAt) : null,
        s.endedAt ? sqlTime(s.endedAt) : null,
        s.recordingUrl,
        s.recordingExpected ? 1 : 0,
      );
    }
    await tx.query(
      `INSERT INTO calls (tenant_id, call_id, direction, status, result, from_number, to_number, extension,
         answered_by, ringing, duration, started_at, answered_at, ended_at, recording_url, recording_expected)
       VALUES ${calls.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}
       ON DUPLICATE KEY UPDATE direction = VALUES(direction), status = VALUES(status), result = VALUES(result),
         from_number = VALUES(from_number), to_number = VALUES(to_number), extension = VALUES(extension),
         answered_by = VALUES(answered_by), ringing = VALUES(ringing), duration = VALUES(duration),
         started_at = VALUES(started_at), answered_at = VALUES(answered_at), ended_at = VALUES(ended_at),
         recording_url = VALUES(recording_url), recording_expected = VALUES(recording_expected), last_error = NULL`,
      params,
    );
  }

  /** Row ids of the calls, keyed by tenant and call id. */
  async pks(tx: Sql, refs: CallRef[]): Promise<Map<string, string>> {
    if (refs.length === 0) return new Map();
    const rows = (await tx.query(
      `SELECT id, tenant_id, call_id FROM calls WHERE ${refs.map(() => '(tenant_id = ? AND call_id = ?)').join(' OR ')}`,
      refs.flatMap((r) => [r.tenantId, r.callId]),
    )) as Pick<CallRow, 'id' | 'tenant_id' | 'call_id'>[];
    return new Map(
      rows.map((r) => [key({ tenantId: r.tenant_id, callId: r.call_id }), String(r.id)]),
    );
  }

  static keyOf(ref: CallRef): string {
    return key(ref);
  }

  async find(tenantId: string, callId: string, tx: Sql = this.db): Promise<CallRow | null> {
    const [row] = (await tx.query('SELECT * FROM calls WHERE tenant_id = ? AND call_id = ?', [
      tenantId,
      callId,
    ])) as CallRow[];
    return row ?? null;
  }

  async findByPk(pk: string, tx: Sql = this.db): Promise<CallRow | null> {
    const [row] = (await tx.query('SELECT * FROM calls WHERE id = ?', [pk])) as CallRow[];
    return row ?? null;
  }

  /**
   * Calls in `status` that last changed before `before` (any tenant). A call that changed then
   * started before, which is what the index ranges over.
   */
  async staleOpen(status: CallStatus, before: Date, limit: number): Promise<CallRow[]> {
    return (await this.db.query(
      `SELECT * FROM calls WHERE status = ? AND started_at < ? AND updated_at < ?
         ORDER BY started_at LIMIT ?`,
      [status, sqlTime(before), sqlTime(before), limit],
    )) as CallRow[];
  }

  /** The tenant's calls still going (not ended) that started after `since`, newest first. */
  async active(tenantId: string, since: Date, limit: number): Promise<CallRow[]> {
    return (await this.db.query(
      `SELECT * FROM calls WHERE tenant_id = ? AND started_at >= ? AND status <> 'ended'
         ORDER BY started_at DESC LIMIT ?`,
      [tenantId, sqlTime(since), limit],
    )) as CallRow[];
  }

  /** A client's latest calls (the outside number), newest first, without `exceptCallId`. */
  async lastOfClient(
    tenantId: string,
    clientNumber: string,
    exceptCallId: string,
    limit: number,
  ): Promise<CallRow[]> {
    return (await this.db.query(
      `SELECT * FROM calls WHERE tenant_id = ? AND client_number = ? AND call_id <> ?
         ORDER BY started_at DESC LIMIT ?`,
      [tenantId, clientNumber, exceptCallId, limit],
    )) as CallRow[];
  }

  /** A client's calls that started in [from, to), newest first. */
  async ofClient(
    tenantId: string,
    clientNumber: string,
    from: Date,
    to: Date,
    limit: number,
  ): Promise<CallRow[]> {
    return (await this.db.query(
      `SELECT * FROM calls WHERE tenant_id = ? AND client_number = ? AND started_at >= ?
         AND started_at < ? ORDER BY started_at DESC LIMIT ?`,
      [tenantId, clientNumber, sqlTime(from), sqlTime(to), limit],
    )) as CallRow[];
  }

  /** Newest first, keyset-paginated. */
  async list(tenantId: string, f: CallListFilter): Promise<CallRow[]> {
    const where = ['tenant_id = ?'];
    const params: unknown[] = [tenantId];
    if (f.since) {
      where.push('started_at >= ?');
      params.push(sqlTime(f.since));
    }
    if (f.until) {
      where.push('started_at < ?');
      params.push(sqlTime(f.until));
    }
    if (f.result) {
      where.push('result = ?');
      params.push(f.result);
    }
    if (f.direction) {
      where.push('direction = ?');
      params.push(f.direction);
    }
    if (f.extension) {
      // Had it, answered it, or was rung by it (a call the agent missed).
      where.push('(extension = ? OR answered_by = ? OR JSON_CONTAINS(ringing, JSON_QUOTE(?)))');
      params.push(f.extension, f.extension, f.extension);
    }
    if (f.line) {
      where.push("IF(direction = 'outbound', from_number, to_number) = ?");
      params.push(f.line);
    }
    for (const extra of f.extra ?? []) {
      where.push(extra.sql);
      params.push(...extra.params);
    }
    if (f.before) {
      where.push('(started_at < ? OR (started_at = ? AND id < ?))');
      params.push(sqlTime(f.before.startedAt), sqlTime(f.before.startedAt), f.before.id);
    }
    return (await this.db.query(
      `SELECT * FROM calls WHERE ${where.join(' AND ')} ORDER BY started_at DESC, id DESC LIMIT ?`,
      [...params, f.limit],
    )) as CallRow[];
  }

  async setLastError(refs: CallRef[], message: string): Promise<void> {
    for (const r of refs) {
      await this.db.query('UPDATE calls SET last_error = ? WHERE tenant_id = ? AND call_id = ?', [
        message.slice(0, 1000),
        r.tenantId,
        r.callId,
      ]);
    }
  }

  /** The recording reference the PBX reported for the call (a URL or a PBX API reference). */
  async recordingReference(tenantId: string, callId: string): Promise<string | null> {
    const [row] = (await this.db.query(
      'SELECT recording_url FROM calls WHERE tenant_id = ? AND call_id = ?',
      [tenantId, callId],
    )) as Pick<CallRow, 'recording_url'>[];
    return row?.recording_url ?? null;
  }
}
