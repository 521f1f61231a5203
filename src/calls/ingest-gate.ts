import { Inject, Injectable, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { Lifecycle } from '../common/lifecycle';
import { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';
import { Metrics } from '../observability/metrics.service';
import { JobQueue } from '../queue/job-queue.service';
import { CALLS_QUEUE } from '../queue/queue.constants';
import { CallWorkload } from './call-workload';

/** How often the calls queue's waiting jobs are counted (one LLEN). */
const SAMPLE_MS = 100;
/** The longest a post waits: then its events are stored anyway, nothing is refused. */
export const HOLD_MAX_MS = 1000;

/**
 * Admission for PBX event posts. The hub stores events and processes them on the same CPU;
 * under a flood, storing could take it all, and the backlog (with the screen pops in it) would
 * grow for as long as the flood lasts. While more than HUB_INGEST_BACKLOG_JOBS call-processing
 * jobs wait (in the cluster's queue, and the ones this instance's held calls will make), a post
 * waits before its events are stored, until processing is back under half of that or
 * HOLD_MAX_MS passed. A PBX then sends more slowly, which is the rate the hub keeps up with.
 */
@Injectable()
export class IngestGate implements OnApplicationBootstrap, OnModuleDestroy {
  private behind = false;
  private sampling = false;
  private timer?: NodeJS.Timeout;
  private readonly waiters = new Set<() => void>();

  constructor(
    private readonly queue: JobQueue,
    private readonly metrics: Metrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly workload: CallWorkload,
    lifecycle: Lifecycle,
  ) {
    lifecycle.onStop(() => this.stop());
  }

  onApplicationBootstrap(): void {
    if (this.config.ingestBacklogJobs === 0) return;
    this.timer = setInterval(() => void this.check(), SAMPLE_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    this.stop();
  }

  /** Undefined while processing keeps up (no wait at all); else a wait to await. */
  pass(): Promise<void> | undefined {
    if (!this.behind) return undefined;
    this.metrics.ingestHeld.inc();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, HOLD_MAX_MS);
      this.waiters.add(done);
    });
  }

  /** Counts the waiting jobs now (the timer does it every SAMPLE_MS). */
  async check(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      const waiting = (await this.queue.waiting(CALLS_QUEUE)) + this.workload.heldJobs();
      const limit = this.config.ingestBacklogJobs;
      this.set(this.behind ? waiting > limit / 2 : waiting > limit);
    } catch {
      // Redis unreachable: nothing is processed from it either; posts are not held for that.
      this.set(false);
    } finally {
      this.sampling = false;
    }
  }

  private set(behind: boolean): void {
    this.behind = behind;
    if (!behind) for (const done of [...this.waiters]) done();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.set(false);
  }
}
