import { Inject, Injectable } from '@nestjs/common';
import { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';

/** The calls one job brings up to date; a job takes up to CALLS_PER_JOB of them. */
export const CALLS_PER_JOB = 50;

/**
 * How busy this instance's call workers are. While every one of them is busy, a new job would
 * only wait in the queue; the calls arriving meanwhile are held here and leave as one job when
 * a worker is free (or after HUB_CALL_HOLD_MS, for another instance's idle workers). Under a
 * flood a job then carries many calls, and its fixed costs (a queue round, a transaction) are
 * shared; while a worker is idle nothing waits.
 */
@Injectable()
export class CallWorkload {
  private busy = 0;
  private readonly onFree = new Set<() => void>();
  private held: () => number = () => 0;

  constructor(@Inject(APP_CONFIG) private readonly config: AppConfig) {}

  started(): void {
    this.busy++;
  }

  finished(): void {
    this.busy--;
    for (const free of [...this.onFree]) free();
  }

  /** Where the held calls are counted (IngestService's queue adds). */
  countHeldBy(held: () => number): void {
    this.held = held;
  }

  /** The jobs the held calls will make: IngestGate counts them with the queue's waiting ones. */
  heldJobs(): number {
    return Math.ceil(this.held() / CALLS_PER_JOB);
  }

  /** Undefined while a worker of this instance is free; else a wait until one is (bounded). */
  untilFree(): Promise<void> | undefined {
    if (this.config.callHoldMs === 0 || this.busy < this.config.callWorkers) return undefined;
    return new Promise<void>((resolve) => {
      const free = () => {
        clearTimeout(timer);
        this.onFree.delete(free);
        resolve();
      };
      const timer = setTimeout(free, this.config.callHoldMs);
      this.onFree.add(free);
    });
  }
}
