import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';
import { Metrics } from '../observability/metrics.service';
import { JobQueue } from '../queue/job-queue.service';
import { CALLS_QUEUE } from '../queue/queue.constants';
import type { NormalizedEvent } from './call-event';
import { CallState, foldCall } from './call-state';
import {
  CallRef,
  IngestService,
  PROCESS_CALL_JOB,
  ProcessCallJob,
  sqlTime,
} from './ingest.service';

export interface CallRowRef {
  pk: string;
  tenantId: string;
  callId: string;
}

/**
 * Reacts to a call's change inside the processing transaction (e.g. plans CRM
 * actions) and returns work to start once the transaction has committed.
 */
export interface CallChangeListener {
  /** Whether calls of this tenant concern the listener at all (skips work on the hot path). */
  interested(tenantId: string): Promise<boolean>;
  onCallChanged(
    tx: EntityManager,
    call: CallRowRef,
    previous: CallState | null,
    next: CallState,
    newEvents: NormalizedEvent[],
  ): Promise<(() => Promise<void>) | void>;
}

export const CALL_CHANGE_LISTENERS = Symbol('CALL_CHANGE_LISTENERS');

interface EventRow {
  id: string;
  tenant_id: string;
  call_id: string;
  payload: string | NormalizedEvent;
  processed_at: Date | null;
}

interface Change {
  ref: CallRef;
  pending: string[];
  previous: CallState | null;
  next: CallState;
  newEvents: NormalizedEvent[];
}

const DEADLOCK_CODES = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);
const key = (r: CallRef) => `${r.tenantId}\u0000${r.callId}`;
const parse = (p: string | NormalizedEvent): NormalizedEvent =>
  typeof p === 'string' ? (JSON.parse(p) as NormalizedEvent) : p;

@Injectable()
export class CallProcessor implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('CallProcessor');
  private sweepTimer?: NodeJS.Timeout;
  private sweeping = false;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly queue: JobQueue,
    private readonly ingest: IngestService,
    private readonly metrics: Metrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(CALL_CHANGE_LISTENERS) private readonly listeners: CallChangeListener[],
  ) {}

  onApplicationBootstrap(): void {
    this.queue.handle<ProcessCallJob>(
      CALLS_QUEUE,
      PROCESS_CALL_JOB,
      this.config.callWorkers,
      async (job) => {
        await this.process(job.calls);
      },
      (job, _info, err) => this.recordFailure(job, err),
    );
    this.sweepTimer = setInterval(() => void this.sweep(), this.config.sweepIntervalS * 1000);
    this.sweepTimer.unref();
  }

  onModuleDestroy(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
  }

  /** Applies the calls' unprocessed events. Idempotent: a second run finds nothing to do. */
  async process(calls: CallRef[]): Promise<number> {
    const refs = [...new Map(calls.map((c) => [key(c), c])).values()].sort((a, b) =>
      key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0,
    );
    if (refs.length === 0) return 0;
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.processOnce(refs);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (attempt < 4 && code && DEADLOCK_CODES.has(code)) continue;
        throw err;
      }
    }
  }

  private async processOnce(refs: CallRef[]): Promise<number> {
    let after: (() => Promise<void>)[] = [];
    // READ COMMITTED: lock the calls' existing events only, without gap locks that would stall ingest.
    const count = await this.db.transaction('READ COMMITTED', async (tx) => {
      after = [];
      const byTenant = new Map<string, string[]>();
      for (const r of refs)
        byTenant.set(r.tenantId, [...(byTenant.get(r.tenantId) ?? []), r.callId]);
      const where = [...byTenant.values()].map(
        (ids) => `(tenant_id = ? AND call_id IN (${ids.map(() => '?').join(',')}))`,
      );
      const rows = (await tx.query(
        `SELECT id, tenant_id, call_id, payload, processed_at FROM call_events
         WHERE ${where.join(' OR ')} ORDER BY tenant_id, call_id, id FOR UPDATE`,
        [...byTenant.entries()].flatMap(([tenantId, ids]) => [tenantId, ...ids]),
      )) as EventRow[];

      const grouped = new Map<string, EventRow[]>();
      for (const row of rows) {
        const k = key({ tenantId: row.tenant_id, callId: row.call_id });
        grouped.set(k, [...(grouped.get(k) ?? []), row]);
      }
      const changes: Change[] = [];
      for (const [, events] of grouped) {
        const pending = events.filter((e) => e.processed_at === null);
        if (pending.length === 0) continue;
        const payloads = events.map((e) => parse(e.payload));
        const old = payloads.filter((_, i) => events[i].processed_at !== null);
        changes.push({
          ref: { tenantId: events[0].tenant_id, callId: events[0].call_id },
          pending: pending.map((e) => e.id),
          previous: old.length ? foldCall(old) : null,
          next: foldCall(payloads),
          newEvents: payloads.filter((_, i) => events[i].processed_at === null),
        });
      }
      if (changes.length === 0) return 0;

      await this.upsertCalls(tx, changes);
      const ids = changes.flatMap((c) => c.pending);
      await tx.query(
        `UPDATE call_events SET processed_at = ?, process_count = process_count + 1 WHERE id IN (${ids.map(() => '?').join(',')})`,
        [sqlTime(new Date()), ...ids],
      );
      await this.notify(tx, changes, after);
      return ids.length;
    });
    this.metrics.eventsProcessed.inc(count);
    for (const then of after) {
      await then().catch((err: Error) =>
        this.logger.warn({ err: err.message }, 'post-commit step failed; the sweeper retries it'),
      );
    }
    return count;
  }

  /** Hands each change to the listeners that care about its tenant, with the call's row id. */
  private async notify(
    tx: EntityManager,
    changes: Change[],
    after: (() => Promise<void>)[],
  ): Promise<void> {
    const wanted: Change[] = [];
    for (const c of changes) {
      for (const l of this.listeners) {
        if (await l.interested(c.ref.tenantId)) {
          wanted.push(c);
          break;
        }
      }
    }
    if (wanted.length === 0) return;
    const pks = (await tx.query(
      `SELECT id, tenant_id, call_id FROM calls WHERE ${wanted.map(() => '(tenant_id = ? AND call_id = ?)').join(' OR ')}`,
      wanted.flatMap((c) => [c.ref.tenantId, c.ref.callId]),
    )) as { id: string; tenant_id: string; call_id: string }[];
    const pkOf = new Map(
      pks.map((r) => [key({ tenantId: r.tenant_id, callId: r.call_id }), String(r.id)]),
    );
    for (const c of wanted) {
      const pk = pkOf.get(key(c.ref));
      if (!pk) continue;
      for (const listener of this.listeners) {
        if (!(await listener.interested(c.ref.tenantId))) continue;
        const then = await listener.onCallChanged(
          tx,
          { pk, ...c.ref },
          c.previous,
          c.next,
          c.newEvents,
        );
        if (then) after.push(then);
      }
    }
  }

  private async upsertCalls(tx: EntityManager, changes: Change[]): Promise<void> {
    const params: unknown[] = [];
    for (const { ref, next: s } of changes) {
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
       VALUES ${changes.map(() => '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)').join(', ')}
       ON DUPLICATE KEY UPDATE direction = VALUES(direction), status = VALUES(status), result = VALUES(result),
         from_number = VALUES(from_number), to_number = VALUES(to_number), extension = VALUES(extension),
         answered_by = VALUES(answered_by), ringing = VALUES(ringing), duration = VALUES(duration),
         started_at = VALUES(started_at), answered_at = VALUES(answered_at), ended_at = VALUES(ended_at),
         recording_url = VALUES(recording_url), recording_expected = VALUES(recording_expected), last_error = NULL`,
      params,
    );
  }

  private async recordFailure(job: ProcessCallJob, err: Error): Promise<void> {
    this.logger.error({ calls: job.calls.length, err: err.message }, 'call processing failed');
    for (const c of job.calls) {
      await this.db.query('UPDATE calls SET last_error = ? WHERE tenant_id = ? AND call_id = ?', [
        `processing failed: ${err.message}`.slice(0, 1000),
        c.tenantId,
        c.callId,
      ]);
    }
  }

  /**
   * Re-queues calls whose events were stored but not processed in time (a queue
   * add lost while Redis was down, a worker killed mid-job).
   */
  async sweep(): Promise<number> {
    if (this.sweeping) return 0;
    this.sweeping = true;
    try {
      const rows = (await this.db.query(
        `SELECT DISTINCT tenant_id, call_id FROM call_events
         WHERE processed_at IS NULL AND received_at < ? LIMIT 1000`,
        [sqlTime(new Date(Date.now() - this.config.sweepAfterS * 1000))],
      )) as { tenant_id: string; call_id: string }[];
      await Promise.all(rows.map((row) => this.ingest.enqueue(row.tenant_id, row.call_id)));
      if (rows.length) {
        this.metrics.eventsSwept.inc(rows.length);
        this.logger.warn({ calls: rows.length }, 're-queued calls with unprocessed events');
      }
      return rows.length;
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'sweep failed');
      return 0;
    } finally {
      this.sweeping = false;
    }
  }
}
