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
import { IngestService, PROCESS_CALL_JOB, ProcessCallJob, sqlTime } from './ingest.service';

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
  onCallChanged(
    tx: EntityManager,
    call: CallRowRef,
    previous: CallState | null,
    next: CallState,
    newEvents: NormalizedEvent[],
  ): Promise<(() => Promise<void>) | void>;
}

export const CALL_CHANGE_LISTENERS = Symbol('CALL_CHANGE_LISTENERS');

interface CallRow {
  id: string;
  status: string;
}

interface EventRow {
  id: string;
  payload: string | NormalizedEvent;
  processed_at: Date | null;
}

const DEADLOCK_CODES = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);

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
      this.config.workerConcurrency,
      async (job) => {
        await this.process(job.tenantId, job.callId);
      },
      (job, _info, err) => this.recordFailure(job, err),
    );
    this.sweepTimer = setInterval(() => void this.sweep(), this.config.sweepIntervalS * 1000);
    this.sweepTimer.unref();
  }

  onModuleDestroy(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
  }

  /** Applies a call's unprocessed events. Idempotent: a second run finds nothing to do. */
  async process(tenantId: string, callId: string): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.processOnce(tenantId, callId);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (attempt < 4 && code && DEADLOCK_CODES.has(code)) continue;
        throw err;
      }
    }
  }

  private async processOnce(tenantId: string, callId: string): Promise<number> {
    let after: (() => Promise<void>)[] = [];
    // READ COMMITTED: lock the call's existing events only, without gap locks that would stall ingest.
    const count = await this.db.transaction('READ COMMITTED', async (tx) => {
      after = [];
      const events = (await tx.query(
        'SELECT id, payload, processed_at FROM call_events WHERE tenant_id = ? AND call_id = ? FOR UPDATE',
        [tenantId, callId],
      )) as EventRow[];
      const pending = events.filter((e) => e.processed_at === null);
      if (pending.length === 0) return 0;
      const payloads = events.map((e) =>
        typeof e.payload === 'string' ? (JSON.parse(e.payload) as NormalizedEvent) : e.payload,
      );
      const newEvents = payloads.filter((_, i) => events[i].processed_at === null);
      const oldEvents = payloads.filter((_, i) => events[i].processed_at !== null);
      const previous = oldEvents.length ? foldCall(oldEvents) : null;
      const next = foldCall(payloads);

      const pk = await this.upsertCall(tx, tenantId, callId, next);
      await tx.query(
        `UPDATE call_events SET processed_at = ?, process_count = process_count + 1 WHERE id IN (${pending.map(() => '?').join(',')})`,
        [sqlTime(new Date()), ...pending.map((e) => e.id)],
      );
      const ref = { pk, tenantId, callId };
      for (const listener of this.listeners) {
        const then = await listener.onCallChanged(tx, ref, previous, next, newEvents);
        if (then) after.push(then);
      }
      return pending.length;
    });
    this.metrics.eventsProcessed.inc(count);
    for (const then of after) {
      await then().catch((err: Error) =>
        this.logger.warn(
          { tenantId, callId, err: err.message },
          'post-commit step failed; the sweeper retries it',
        ),
      );
    }
    return count;
  }

  private async upsertCall(
    tx: EntityManager,
    tenantId: string,
    callId: string,
    s: CallState,
  ): Promise<string> {
    const values = [
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
    ];
    await tx.query(
      `INSERT INTO calls (tenant_id, call_id, direction, status, result, from_number, to_number, extension,
         answered_by, ringing, duration, started_at, answered_at, ended_at, recording_url, recording_expected)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON DUPLICATE KEY UPDATE direction = VALUES(direction), status = VALUES(status), result = VALUES(result),
         from_number = VALUES(from_number), to_number = VALUES(to_number), extension = VALUES(extension),
         answered_by = VALUES(answered_by), ringing = VALUES(ringing), duration = VALUES(duration),
         started_at = VALUES(started_at), answered_at = VALUES(answered_at), ended_at = VALUES(ended_at),
         recording_url = VALUES(recording_url), recording_expected = VALUES(recording_expected), last_error = NULL`,
      [tenantId, callId, ...values],
    );
    const [row] = (await tx.query(
      'SELECT id, status FROM calls WHERE tenant_id = ? AND call_id = ?',
      [tenantId, callId],
    )) as CallRow[];
    return String(row.id);
  }

  private async recordFailure(job: ProcessCallJob, err: Error): Promise<void> {
    this.logger.error(
      { tenantId: job.tenantId, callId: job.callId, err: err.message },
      'call processing failed',
    );
    await this.db.query('UPDATE calls SET last_error = ? WHERE tenant_id = ? AND call_id = ?', [
      `processing failed: ${err.message}`.slice(0, 1000),
      job.tenantId,
      job.callId,
    ]);
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
      for (const row of rows) await this.ingest.enqueue(row.tenant_id, row.call_id);
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
