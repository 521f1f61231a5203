import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { placeholders, Sql, sqlTime } from '../../common/sql';
import type { CallRow } from '../../calls/calls.repository';
import type { SyncAction, SyncStatus } from './crm-jobs';

/** A row of call_sync: one CRM action of one call for one integration — the exactly-once ledger. */
export interface CallSyncRow {
  id: string;
  call_pk: string;
  integration_id: string;
  action: SyncAction;
  status: SyncStatus;
  /** What the CRM calls the result (a task id). */
  external_id: string | null;
  /** For pops: the extensions the card was shown to. */
  popped: string | string[] | null;
  attempts: number;
  /** Consecutive failed attempts (the backoff grows with them; throttling does not count). */
  failures: number;
  last_error: string | null;
  not_before: Date | null;
  /** Set while a worker sends the action; a lapsed claim means the worker died. */
  claimed_until: Date | null;
  /** A request of the action may have reached the CRM (set right before it left). */
  sent_at: Date | null;
  created_at: Date;
  /** When the action's integration was connected again after waiting for re-auth. */
  resumed_at: Date | null;
  updated_at: Date;
  done_at: Date | null;
}

/** An action with the call it belongs to, as a job needs them. */
export interface SyncWithCall {
  sync: CallSyncRow;
  call: CallRow;
}

/** What the call detail shows of each action. */
export interface ActionState {
  integrationId: string;
  connector: string;
  action: SyncAction;
  status: SyncStatus;
  externalId: string | null;
  attempts: number;
  lastError: string | null;
  updatedAt: Date;
}

const SYNC_COLUMNS = [
  'id',
  'call_pk',
  'integration_id',
  'action',
  'status',
  'external_id',
  'popped',
  'attempts',
  'failures',
  'last_error',
  'not_before',
  'claimed_until',
  'sent_at',
  'created_at',
  'resumed_at',
  'updated_at',
  'done_at',
];
const CALL_COLUMNS = [
  'id',
  'tenant_id',
  'call_id',
  'direction',
  'status',
  'result',
  'from_number',
  'to_number',
  'extension',
  'answered_by',
  'ringing',
  'duration',
  'started_at',
  'answered_at',
  'ended_at',
  'recording_url',
  'recording_expected',
  'last_error',
  'created_at',
  'updated_at',
];
const SELECT_WITH_CALL = `SELECT ${[
  ...SYNC_COLUMNS.map((c) => `s.${c} AS s_${c}`),
  ...CALL_COLUMNS.map((c) => `c.${c} AS c_${c}`),
].join(', ')} FROM call_sync s JOIN calls c ON c.id = s.call_pk`;

function split(flat: Record<string, unknown>): SyncWithCall {
  const sync: Record<string, unknown> = {};
  const call: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(flat)) {
    if (k.startsWith('s_')) sync[k.slice(2)] = v;
    else if (k.startsWith('c_')) call[k.slice(2)] = v;
  }
  return { sync: sync as unknown as CallSyncRow, call: call as unknown as CallRow };
}

/** The SQL of call_sync, and nothing else. */
@Injectable()
export class CallSyncRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /**
   * Makes sure the action exists for the call (inside the call's processing transaction).
   * `rearm` re-opens a finished one (a pop for newly ringing agents). Returns its id and status.
   */
  async plan(
    tx: Sql,
    p: {
      callPk: string;
      integrationId: string;
      action: SyncAction;
      notBefore: Date | null;
      rearm: boolean;
    },
  ): Promise<Pick<CallSyncRow, 'id' | 'status'>> {
    const notBefore = p.notBefore ? sqlTime(p.notBefore) : null;
    await tx.query(
      `INSERT INTO call_sync (call_pk, integration_id, action, status, not_before)
       VALUES (?, ?, ?, 'pending', ?)
       ON DUPLICATE KEY UPDATE
         status = IF(? AND status IN ('done', 'skipped'), 'pending', status),
         not_before = IF(status = 'pending', ?, not_before)`,
      [p.callPk, p.integrationId, p.action, notBefore, p.rearm ? 1 : 0, notBefore],
    );
    const [row] = (await tx.query(
      'SELECT id, status FROM call_sync WHERE call_pk = ? AND integration_id = ? AND action = ?',
      [p.callPk, p.integrationId, p.action],
    )) as Pick<CallSyncRow, 'id' | 'status'>[];
    return { id: String(row.id), status: row.status };
  }

  async load(syncId: string): Promise<SyncWithCall | null> {
    const [row] = (await this.db.query(`${SELECT_WITH_CALL} WHERE s.id = ?`, [syncId])) as Record<
      string,
      unknown
    >[];
    return row ? split(row) : null;
  }

  /** Another action of the same call and integration. */
  async sibling(
    of: Pick<CallSyncRow, 'call_pk' | 'integration_id'>,
    action: SyncAction,
  ): Promise<CallSyncRow | null> {
    const [row] = (await this.db.query(
      'SELECT * FROM call_sync WHERE call_pk = ? AND integration_id = ? AND action = ?',
      [of.call_pk, of.integration_id, action],
    )) as CallSyncRow[];
    return row ?? null;
  }

  /** Pending logs of the integration due by `dueBy` (default now) and unclaimed, oldest first. */
  async dueLogs(
    integrationId: string,
    exceptId: string,
    now: Date,
    limit: number,
    dueBy: Date = now,
  ): Promise<SyncWithCall[]> {
    if (limit <= 0) return [];
    const rows = (await this.db.query(
      `${SELECT_WITH_CALL} WHERE s.integration_id = ? AND s.action = 'log' AND s.status = 'pending' AND s.id <> ?
         AND (s.not_before IS NULL OR s.not_before <= ?) AND (s.claimed_until IS NULL OR s.claimed_until < ?)
       ORDER BY s.id LIMIT ?`,
      [integrationId, exceptId, sqlTime(dueBy), sqlTime(now), limit],
    )) as Record<string, unknown>[];
    return rows.map(split);
  }

  /** Takes the action for this worker; false when another worker holds a live claim. */
  async claim(syncId: string, now: Date, until: Date): Promise<boolean> {
    const res = (await this.db.query(
      `UPDATE call_sync SET claimed_until = ?, attempts = attempts + 1
       WHERE id = ? AND status = 'pending' AND (claimed_until IS NULL OR claimed_until < ?)`,
      [sqlTime(until), syncId, sqlTime(now)],
    )) as { affectedRows: number };
    return res.affectedRows === 1;
  }

  /**
   * Lets go of the claim after an attempt that did not finish: `failed` counts it toward the
   * backoff; `retryAt` is kept so that a row waiting for its retry is not taken for lost.
   */
  async release(
    syncId: string,
    lastError: string,
    failed: boolean,
    retryAt: Date | null,
  ): Promise<void> {
    await this.db.query(
      `UPDATE call_sync SET claimed_until = NULL, last_error = ?, failures = failures + ?,
         not_before = COALESCE(?, not_before) WHERE id = ?`,
      [lastError.slice(0, 1000), failed ? 1 : 0, retryAt ? sqlTime(retryAt) : null, syncId],
    );
  }

  /** Lets go of claims at once (this instance is stopping); the rows stay pending. */
  async releaseClaims(syncIds: string[]): Promise<void> {
    if (syncIds.length === 0) return;
    await this.db.query(
      `UPDATE call_sync SET claimed_until = NULL WHERE status = 'pending' AND id IN (${placeholders(syncIds.length)})`,
      syncIds,
    );
  }

  /** A request of the action is about to leave: from now on a create is in doubt until settled. */
  async markSent(syncId: string, now: Date): Promise<void> {
    await this.db.query('UPDATE call_sync SET sent_at = COALESCE(sent_at, ?) WHERE id = ?', [
      sqlTime(now),
      syncId,
    ]);
  }

  async finish(
    syncId: string,
    outcome: {
      status: SyncStatus;
      note: string | null;
      externalId: string | null;
      popped?: string[] | null;
    },
    now: Date,
  ): Promise<void> {
    await this.db.query(
      `UPDATE call_sync SET status = ?, last_error = ?, external_id = COALESCE(?, external_id),
         popped = COALESCE(?, popped), claimed_until = NULL, done_at = IF(? = 'done', ?, done_at)
       WHERE id = ?`,
      [
        outcome.status,
        outcome.note?.slice(0, 1000) ?? null,
        outcome.externalId,
        outcome.popped ? JSON.stringify(outcome.popped) : null,
        outcome.status,
        sqlTime(now),
        syncId,
      ],
    );
  }

  /** Skips a pending pop nobody is sending (its call ended): it must not pop any more. */
  async skipUnsent(syncId: string, note: string): Promise<void> {
    await this.db.query(
      "UPDATE call_sync SET status = 'skipped', last_error = ? WHERE id = ? AND status = 'pending' AND claimed_until IS NULL",
      [note, syncId],
    );
  }

  /** Pending actions untouched since `staleBefore`, due and unclaimed (their job may be lost). */
  async stale(
    staleBefore: Date,
    now: Date,
    limit: number,
  ): Promise<Pick<CallSyncRow, 'id' | 'action'>[]> {
    const rows = (await this.db.query(
      `SELECT id, action FROM call_sync WHERE status = 'pending' AND updated_at < ?
         AND (not_before IS NULL OR not_before < ?) AND (claimed_until IS NULL OR claimed_until < ?) LIMIT ?`,
      [sqlTime(staleBefore), sqlTime(now), sqlTime(now), limit],
    )) as Pick<CallSyncRow, 'id' | 'action'>[];
    return rows.map((r) => ({ id: String(r.id), action: r.action }));
  }

  /** The integration is connected again: its waiting actions count their age from now. */
  async resume(integrationId: string, now: Date): Promise<Pick<CallSyncRow, 'id' | 'action'>[]> {
    await this.db.query(
      "UPDATE call_sync SET resumed_at = ?, not_before = NULL WHERE integration_id = ? AND status = 'pending'",
      [sqlTime(now), integrationId],
    );
    const rows = (await this.db.query(
      "SELECT id, action FROM call_sync WHERE integration_id = ? AND status = 'pending'",
      [integrationId],
    )) as Pick<CallSyncRow, 'id' | 'action'>[];
    return rows.map((r) => ({ id: String(r.id), action: r.action }));
  }

  /**
   * An admin's retry: the call's failed actions (of one integration, of some actions) are
   * pending again, their age counted from now. Done and skipped ones are never touched.
   */
  async retryFailed(
    callPk: string,
    only: { integrationId?: string; actions?: readonly SyncAction[] },
    now: Date,
  ): Promise<Pick<CallSyncRow, 'id' | 'action'>[]> {
    const where = ['call_pk = ?', "status = 'failed'"];
    const args: unknown[] = [callPk];
    if (only.integrationId) {
      where.push('integration_id = ?');
      args.push(only.integrationId);
    }
    if (only.actions?.length) {
      where.push('action IN (?)');
      args.push(only.actions);
    }
    const rows = (await this.db.query(
      `SELECT id, action FROM call_sync WHERE ${where.join(' AND ')}`,
      args,
    )) as Pick<CallSyncRow, 'id' | 'action'>[];
    if (rows.length === 0) return [];
    const ids = rows.map((r) => String(r.id));
    await this.db.query(
      `UPDATE call_sync SET status = 'pending', resumed_at = ?, not_before = NULL,
              claimed_until = NULL WHERE id IN (?) AND status = 'failed'`,
      [sqlTime(now), ids],
    );
    return rows.map((r) => ({ id: String(r.id), action: r.action }));
  }

  /**
   * Pending actions whose latest attempt failed (waiting for their retry), per tenant and
   * connector: one grouped read on the (status, updated_at) index.
   */
  async failingByTenant(): Promise<{ tenant: string; connector: string; n: number }[]> {
    const rows = (await this.db.query(
      `SELECT i.tenant_id AS tenant, i.connector, COUNT(*) AS n
       FROM call_sync s JOIN integrations i ON i.id = s.integration_id
       WHERE s.status = 'pending' AND s.failures > 0 GROUP BY i.tenant_id, i.connector`,
    )) as { tenant: string; connector: string; n: number | string }[];
    return rows.map((r) => ({ tenant: r.tenant, connector: r.connector, n: Number(r.n) }));
  }

  /** Each action of a call with its integration's connector, for the call detail. */
  async forCall(tx: Sql, callPk: string): Promise<ActionState[]> {
    const rows = (await tx.query(
      `SELECT s.integration_id, i.connector, s.action, s.status, s.external_id, s.attempts, s.last_error, s.updated_at
       FROM call_sync s JOIN integrations i ON i.id = s.integration_id WHERE s.call_pk = ? ORDER BY s.id`,
      [callPk],
    )) as (Pick<
      CallSyncRow,
      | 'integration_id'
      | 'action'
      | 'status'
      | 'external_id'
      | 'attempts'
      | 'last_error'
      | 'updated_at'
    > & { connector: string })[];
    return rows.map((r) => ({
      integrationId: r.integration_id,
      connector: r.connector,
      action: r.action,
      status: r.status,
      externalId: r.external_id,
      attempts: r.attempts,
      lastError: r.last_error,
      updatedAt: new Date(r.updated_at),
    }));
  }
}
