import { InjectQueue } from '@nestjs/bull';
import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { Lifecycle } from '../common/lifecycle';
import type { Job, JobOptions, Queue } from 'bull';
import { Metrics } from '../observability/metrics.service';
import { CALLS_QUEUE, CRM_QUEUE, QueueName } from './queue.constants';

export interface JobInfo {
  id: string;
  name: string;
  attemptsMade: number;
  maxAttempts: number;
  timestamp: number;
}

export type JobHandler<T> = (data: T, job: JobInfo) => Promise<void>;
export type FinalFailureHandler<T> = (data: T, job: JobInfo, error: Error) => Promise<void>;

export interface AddOptions {
  delayMs?: number;
  attempts?: number;
  priority?: number;
  jobId?: string;
  backoff?: 'exponential' | 'retry-after';
}

const ADD_TIMEOUT_MS = 1500;

/** Redis commands queue up while it is down; callers must not wait for its return. */
async function withTimeout<T>(work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      work,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('queue add timed out')), ADD_TIMEOUT_MS);
      }),
    ]);
  } finally {
    if (timer) clearTimeout(timer);
  }
}

function info(job: Job): JobInfo {
  return {
    id: String(job.id),
    name: job.name,
    attemptsMade: job.attemptsMade,
    maxAttempts: job.opts.attempts ?? 1,
    timestamp: job.timestamp,
  };
}

/** The one door to Bull: other modules add and handle jobs through it. */
@Injectable()
export class JobQueue implements OnModuleDestroy {
  private readonly logger = new Logger('JobQueue');
  private readonly queues: Record<QueueName, Queue>;
  private closed = false;

  constructor(
    @InjectQueue(CALLS_QUEUE) calls: Queue,
    @InjectQueue(CRM_QUEUE) crm: Queue,
    private readonly metrics: Metrics,
    lifecycle: Lifecycle,
  ) {
    this.queues = { [CALLS_QUEUE]: calls, [CRM_QUEUE]: crm };
    // Stopping: this instance's workers take no new job, and the active ones finish before
    // anything they use (HTTP agents, the database pool) is torn down.
    lifecycle.onStop(async () => {
      await Promise.all(Object.values(this.queues).map((q) => q.pause(true)));
    });
    // Redis down: the depth gauge keeps its last value; readiness reports the outage.
    metrics.beforeScrape(async () => {
      for (const [queue, states] of Object.entries(await this.counts())) {
        for (const [state, n] of Object.entries(states))
          metrics.queueDepth.set({ queue, state }, n);
      }
    });
    for (const [name, queue] of Object.entries(this.queues)) {
      queue.on('error', (err) =>
        this.logger.warn({ queue: name, err: err.message }, 'queue error'),
      );
    }
  }

  /**
   * Adds a job. Rejects when Redis does not take it in time: callers that already
   * stored their work durably rely on the sweeper instead of failing the request.
   */
  async add<T extends object>(
    queue: QueueName,
    name: string,
    data: T,
    opts: AddOptions = {},
  ): Promise<void> {
    this.ready(queue);
    await withTimeout(this.queues[queue].add(name, data, this.jobOptions(opts)));
  }

  /** Adds many jobs of one name in one round trip; rejects like add() when Redis is slow. */
  async addBulk<T extends object>(
    queue: QueueName,
    name: string,
    data: T[],
    opts: AddOptions = {},
  ): Promise<void> {
    this.ready(queue);
    const jobOpts = this.jobOptions(opts);
    await withTimeout(
      this.queues[queue].addBulk(data.map((d) => ({ name, data: d, opts: jobOpts }))),
    );
  }

  /** While Redis is down, fail at once instead of making every request wait for the timeout. */
  private ready(queue: QueueName): void {
    const status = this.queues[queue].client.status;
    if (status === 'reconnecting' || status === 'close' || status === 'end') {
      throw new Error(`Redis is not connected (${status})`);
    }
  }

  private jobOptions(opts: AddOptions): JobOptions {
    return {
      attempts: opts.attempts ?? 10,
      backoff:
        opts.backoff === 'retry-after'
          ? { type: 'retryAfter' }
          : { type: 'exponential', delay: 1000 },
      delay: opts.delayMs,
      priority: opts.priority,
      jobId: opts.jobId,
      removeOnComplete: true,
      removeOnFail: 1000,
    };
  }

  /** Registers a handler; a final failure (attempts exhausted) is handed to onFinalFailure. */
  handle<T>(
    queue: QueueName,
    name: string,
    concurrency: number,
    handler: JobHandler<T>,
    onFinalFailure?: FinalFailureHandler<T>,
  ): void {
    const q = this.queues[queue];
    void q.process(name, concurrency, async (job: Job<T>) => {
      const stop = this.metrics.jobDuration.startTimer({ queue, job: name });
      try {
        await handler(job.data, info(job));
        stop({ outcome: 'ok' });
      } catch (err) {
        stop({ outcome: 'error' });
        const final = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
        this.metrics.jobFailures.inc({ queue, job: name, final: String(final) });
        if (final && onFinalFailure) {
          await onFinalFailure(job.data, info(job), err as Error).catch((e: Error) =>
            this.logger.error({ queue, job: name, err: e.message }, 'final-failure handler failed'),
          );
        }
        throw err;
      }
    });
  }

  async counts(): Promise<Record<string, Record<string, number>>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [name, queue] of Object.entries(this.queues)) {
      out[name] = (await queue.getJobCounts()) as unknown as Record<string, number>;
    }
    return out;
  }

  /** Jobs waiting for a worker (not running, not delayed): how far processing is behind. */
  async waiting(queue: QueueName): Promise<number> {
    return this.queues[queue].getWaitingCount();
  }

  async ping(): Promise<void> {
    await this.queues[CALLS_QUEUE].client.ping();
  }

  /** The raw queues, for the dashboard only. */
  rawQueues(): Queue[] {
    return Object.values(this.queues);
  }

  async onModuleDestroy(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.allSettled(Object.values(this.queues).map((q) => q.close()));
  }
}
