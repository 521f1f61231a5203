import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { Clock } from '../common/clock';
import type { Sql } from '../common/sql';
import { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';
import { Metrics } from '../observability/metrics.service';
import { JobQueue } from '../queue/job-queue.service';
import { CALLS_QUEUE } from '../queue/queue.constants';
import { TenantsService } from '../tenants/tenants.service';
import type { CallStatus, NormalizedEvent } from './call-event';
import { CallEventsRepository, CallRef, payloadOf } from './call-events.repository';
import { CallChange, CallListeners } from './call-listeners';
import { CallState, foldCall } from './call-state';
import { CallWorkload } from './call-workload';
import { CallRow, CallsRepository } from './calls.repository';
import { IngestService, PROCESS_CALL_JOB, ProcessCallJob } from './ingest.service';

interface Folded {
  ref: CallRef;
  pending: string[];
  previous: CallState | null;
  next: CallState;
  newEvents: NormalizedEvent[];
}

const DEADLOCK_CODES = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);
/** A call that fails this many times is set aside as failed instead of being swept again. */
const MAX_CALL_FAILURES = 5;
/** A call with more stored events than this is not folded (a flood, or a PBX in a loop). */
export const MAX_EVENTS_PER_CALL = 2000;
const TRANSIENT_DB_CODES = new Set([
  ...DEADLOCK_CODES,
  'ER_CON_COUNT_ERROR',
  'ER_SERVER_SHUTDOWN',
  'ER_QUERY_INTERRUPTED',
  'ER_CLIENT_INTERACTION_TIMEOUT',
  'ER_OPTION_PREVENTS_STATEMENT',
]);

/** The call's own data failed it (it would fail again alone); not an outage of the database. */
class CallDataError extends Error {}

/**
 * Whether a failure says the database (or the network to it) is unwell rather than that
 * this call's data cannot be applied: then the job is retried as a whole, nothing is counted.
 */
function isOutage(err: unknown): boolean {
  if (err instanceof CallDataError) return false;
  const e = err as { code?: unknown; fatal?: unknown; driverError?: { fatal?: unknown } };
  if (e?.fatal === true || e?.driverError?.fatal === true) return true;
  const code = typeof e?.code === 'string' ? e.code : '';
  return (
    TRANSIENT_DB_CODES.has(code) ||
    /^E[A-Z]+$/.test(code) ||
    code.startsWith('PROTOCOL_') ||
    code.startsWith('POOL_')
  );
}
const key = CallsRepository.keyOf;

/**
 * Brings calls up to date with their stored events: one transaction folds every event of
 * up to CALLS_PER_JOB (call-workload.ts) calls, writes the calls, marks the events processed
 * and lets the registered listeners plan their work. A sweeper re-queues what a lost job left behind.
 */
@Injectable()
export class CallProcessor implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('CallProcessor');
  private closeTimer?: NodeJS.Timeout;
  private closing = false;
  private sweepTimer?: NodeJS.Timeout;
  private sweeping = false;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly events: CallEventsRepository,
    private readonly calls: CallsRepository,
    private readonly listeners: CallListeners,
    private readonly queue: JobQueue,
    private readonly ingest: IngestService,
    private readonly metrics: Metrics,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly tenants: TenantsService,
    private readonly workload: CallWorkload,
  ) {}

  onApplicationBootstrap(): void {
    this.queue.handle<ProcessCallJob>(
      CALLS_QUEUE,
      PROCESS_CALL_JOB,
      this.config.callWorkers,
      async (job) => {
        this.workload.started();
        try {
          if ((await this.process(job.calls)) === 0) await this.noteDeletedTenants(job.calls);
        } finally {
          this.workload.finished();
        }
      },
      (job, _info, err) => this.calls.setLastError(job.calls, `processing failed: ${err.message}`),
    );
    this.sweepTimer = setInterval(() => void this.sweep(), this.config.sweepIntervalS * 1000);
    this.sweepTimer.unref();
    this.closeTimer = setInterval(
      () => void this.closeAbandoned(),
      this.config.sweepIntervalS * 1000 * 6,
    );
    this.closeTimer.unref();
  }

  onModuleDestroy(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    if (this.closeTimer) clearInterval(this.closeTimer);
  }

  /**
   * Ends the calls whose end never reached the hub (an AMI gap, a PBX that lost a webhook):
   * one not answered that heard nothing for HUB_UNANSWERED_CALL_MAX_S, one answered for
   * HUB_ANSWERED_CALL_MAX_S. The end goes through processing like any event, so cards close
   * and logs are written; the call says why it was closed.
   */
  async closeAbandoned(): Promise<number> {
    if (this.closing) return 0;
    this.closing = true;
    let closed = 0;
    try {
      const now = this.clock.nowMs();
      const limits: [CallStatus, number][] = [
        ['started', this.config.unansweredCallMaxS],
        ['ringing', this.config.unansweredCallMaxS],
        ['answered', this.config.answeredCallMaxS],
      ];
      for (const [status, maxS] of limits) {
        const rows = await this.calls.staleOpen(status, new Date(now - maxS * 1000), 100);
        for (const row of rows) {
          // One call that cannot be closed (its data fails) does not keep the others open.
          try {
            await this.closeOne(row, maxS);
            closed++;
          } catch (err) {
            this.logger.warn(
              { tenantId: row.tenant_id, callId: row.call_id, err: (err as Error).message },
              'could not close an abandoned call',
            );
          }
        }
      }
      if (closed) this.logger.warn({ calls: closed }, 'closed calls whose end never arrived');
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'closing abandoned calls failed');
    } finally {
      this.closing = false;
    }
    return closed;
  }

  /**
   * Ends the tenant's calls still open whose ids `lost` says are gone at the PBX (their end
   * happened while the hub was not listening), at `at` (when it stopped listening) or their
   * last event if later, with `reason` on each. Returns how many.
   */
  async endLost(
    tenantId: string,
    lost: (callId: string) => boolean,
    reason: string,
    since: Date,
    at: Date,
  ): Promise<number> {
    const open = await this.calls.active(tenantId, since, 1000);
    let ended = 0;
    for (const row of open.filter((r) => lost(r.call_id))) {
      try {
        const last = new Date(row.updated_at);
        await this.end(row, last > at ? last : at, reason);
        ended++;
      } catch (err) {
        this.logger.warn(
          { tenantId, callId: row.call_id, err: (err as Error).message },
          'could not end a lost call',
        );
      }
    }
    return ended;
  }

  private async closeOne(row: CallRow, maxS: number): Promise<void> {
    const within =
      maxS % 3600 === 0 ? `${maxS / 3600} h` : maxS % 60 === 0 ? `${maxS / 60} min` : `${maxS} s`;
    await this.end(
      row,
      new Date(row.updated_at),
      `closed by the hub: no end of the call arrived within ${within} of its last event`,
    );
    this.metrics.callsAbandoned.inc();
  }

  /** Ends an open call at `at` through processing, then says why on the call. */
  private async end(row: CallRow, at: Date, reason: string): Promise<void> {
    const ref = { tenantId: row.tenant_id, callId: row.call_id };
    const answeredAt = row.answered_at ? new Date(row.answered_at).getTime() : null;
    const answered = row.status === 'answered';
    const end: NormalizedEvent = {
      id: `hub-closed:${row.call_id}`.slice(0, 128),
      callId: row.call_id,
      type: 'call.ended',
      at: at.toISOString(),
      result: answered ? 'answered' : 'missed',
      duration:
        answered && answeredAt !== null
          ? Math.max(0, Math.round((at.getTime() - answeredAt) / 1000))
          : 0,
    };
    // Stored and processed here, not queued: no worker processes it meanwhile, so the reason
    // written next stays (processing a call clears its last error).
    await this.ingest.store(row.tenant_id, [end], 'hub');
    await this.process([ref]);
    await this.calls.setLastError([ref], reason);
  }

  /**
   * Applies the calls' unprocessed events. Idempotent: a second run finds nothing to do.
   * One call whose data fails never fails the others: the batch falls back to one call at
   * a time, and the failing call is counted, then set aside after MAX_CALL_FAILURES.
   */
  async process(calls: CallRef[]): Promise<number> {
    const refs = [...new Map(calls.map((c) => [key(c), c])).values()].sort((a, b) =>
      key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0,
    );
    if (refs.length === 0) return 0;
    try {
      return await this.processRetrying(refs);
    } catch (err) {
      if (isOutage(err)) throw err;
    }
    let count = 0;
    for (const ref of refs) {
      try {
        count += await this.processRetrying([ref]);
      } catch (err) {
        if (isOutage(err)) throw err;
        await this.recordFailure(ref, err as Error);
      }
    }
    return count;
  }

  /**
   * A job that found nothing to do is normal (a duplicate); one for a tenant deleted since it
   * was queued is dropped, and said so once per job (its events went with the tenant).
   */
  private async noteDeletedTenants(refs: CallRef[]): Promise<void> {
    const tenantIds = [...new Set(refs.map((r) => r.tenantId))];
    for (const tenantId of tenantIds) {
      if (await this.tenants.find(tenantId).catch(() => true)) continue;
      this.logger.log(
        { tenantId, calls: refs.filter((r) => r.tenantId === tenantId).length },
        'call job of a deleted tenant dropped',
      );
    }
  }

  private async recordFailure(ref: CallRef, err: Error): Promise<void> {
    const message = `processing failed: ${err.message}`;
    const { failures, failed } = await this.events.recordFailure(
      ref,
      message,
      this.clock.now(),
      MAX_CALL_FAILURES,
    );
    this.metrics.callFailures.inc();
    await this.calls.setLastError([ref], message);
    if (failed) this.metrics.callsFailed.inc();
    this.logger.warn(
      { tenantId: ref.tenantId, callId: ref.callId, failures, setAside: failed, err: err.message },
      failed ? 'call set aside after repeated failures' : 'call failed to apply; retried later',
    );
  }

  private async processRetrying(refs: CallRef[]): Promise<number> {
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
      const folded = this.fold(await this.events.lockForCalls(tx, refs));
      if (folded.length === 0) return 0;
      await this.calls.upsert(
        tx,
        folded.map((f) => ({ ref: f.ref, state: f.next })),
      );
      const ids = folded.flatMap((f) => f.pending);
      await this.events.markProcessed(tx, ids, this.clock.now());
      after = await this.notify(tx, folded);
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

  /** Each call with unprocessed events, folded before and after them. */
  private fold(rows: Awaited<ReturnType<CallEventsRepository['lockForCalls']>>): Folded[] {
    const grouped = new Map<string, typeof rows>();
    for (const row of rows) {
      const k = key({ tenantId: row.tenant_id, callId: row.call_id });
      grouped.set(k, [...(grouped.get(k) ?? []), row]);
    }
    const out: Folded[] = [];
    for (const events of grouped.values()) {
      if (events.length > MAX_EVENTS_PER_CALL) {
        throw new CallDataError(`more than ${MAX_EVENTS_PER_CALL} events for one call`);
      }
      const pending = events.filter((e) => e.processed_at === null);
      if (pending.length === 0) continue;
      const payloads = events.map(payloadOf);
      const old = payloads.filter((_, i) => events[i].processed_at !== null);
      out.push({
        ref: { tenantId: events[0].tenant_id, callId: events[0].call_id },
        pending: pending.map((e) => e.id),
        previous: old.length ? foldCall(old) : null,
        next: foldCall(payloads),
        newEvents: payloads.filter((_, i) => events[i].processed_at === null),
      });
    }
    return out;
  }

  /** Hands each change to the listeners that care about its tenant; returns their post-commit work. */
  private async notify(tx: Sql, folded: Folded[]): Promise<(() => Promise<void>)[]> {
    const wanted: { f: Folded; listeners: Awaited<ReturnType<CallListeners['for']>> }[] = [];
    for (const f of folded) {
      const listeners = await this.listeners.for(f.ref.tenantId);
      if (listeners.length) wanted.push({ f, listeners });
    }
    if (wanted.length === 0) return [];
    const pkOf = await this.calls.pks(
      tx,
      wanted.map((w) => w.f.ref),
    );
    const after: (() => Promise<void>)[] = [];
    for (const { f, listeners } of wanted) {
      const pk = pkOf.get(key(f.ref));
      if (!pk) continue;
      const change: CallChange = {
        call: { pk, ...f.ref },
        previous: f.previous,
        next: f.next,
        newEvents: f.newEvents,
      };
      for (const listener of listeners) {
        const then = await listener.onCallChanged(tx, change);
        if (then) after.push(then);
      }
    }
    return after;
  }

  /**
   * Re-queues calls whose events were stored but not processed in time (a queue
   * add lost while Redis was down, a worker killed mid-job).
   */
  async sweep(): Promise<number> {
    if (this.sweeping) return 0;
    this.sweeping = true;
    try {
      const refs = await this.events.unprocessedCalls(
        new Date(this.clock.nowMs() - this.config.sweepAfterS * 1000),
        1000,
      );
      await Promise.all(refs.map((r) => this.ingest.enqueue(r.tenantId, r.callId)));
      if (refs.length) {
        this.metrics.eventsSwept.inc(refs.length);
        this.logger.warn({ calls: refs.length }, 're-queued calls with unprocessed events');
      }
      return refs.length;
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'sweep failed');
      return 0;
    } finally {
      this.sweeping = false;
    }
  }
}
