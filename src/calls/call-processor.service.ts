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
import type { NormalizedEvent } from './call-event';
import { CallEventsRepository, CallRef, payloadOf } from './call-events.repository';
import { CallChange, CallListeners } from './call-listeners';
import { CallState, foldCall } from './call-state';
import { CallsRepository } from './calls.repository';
import { IngestService, PROCESS_CALL_JOB, ProcessCallJob } from './ingest.service';

interface Folded {
  ref: CallRef;
  pending: string[];
  previous: CallState | null;
  next: CallState;
  newEvents: NormalizedEvent[];
}

const DEADLOCK_CODES = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);
const key = CallsRepository.keyOf;

/**
 * Brings calls up to date with their stored events: one transaction folds every event of
 * up to CALLS_PER_JOB calls, writes the calls, marks the events processed and lets the
 * registered listeners plan their work. A sweeper re-queues what a lost job left behind.
 */
@Injectable()
export class CallProcessor implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('CallProcessor');
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
  ) {}

  onApplicationBootstrap(): void {
    this.queue.handle<ProcessCallJob>(
      CALLS_QUEUE,
      PROCESS_CALL_JOB,
      this.config.callWorkers,
      async (job) => {
        await this.process(job.calls);
      },
      (job, _info, err) => this.calls.setLastError(job.calls, `processing failed: ${err.message}`),
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
