import { Injectable, Logger } from '@nestjs/common';

type Step = () => Promise<void> | void;

/**
 * The instance's shutdown as the rooms see it. On SIGTERM the hub stops at once: readiness
 * turns 503 and the workers take no new jobs (`onStop`); work in flight then has until
 * HUB_SHUTDOWN_S to finish. What has not finished by then is released (`onForcedStop`):
 * claims let go, so another instance takes the work at once instead of waiting for them
 * to lapse.
 */
@Injectable()
export class Lifecycle {
  private readonly logger = new Logger('Lifecycle');
  private readonly stopSteps: Step[] = [];
  private readonly forcedSteps: Step[] = [];
  private stoppingSince: number | null = null;

  get stopping(): boolean {
    return this.stoppingSince !== null;
  }

  /** Runs when the instance begins to stop: stop taking new work. */
  onStop(step: Step): void {
    this.stopSteps.push(step);
  }

  /** Runs when the shutdown time is up: hand unfinished work back. */
  onForcedStop(step: Step): void {
    this.forcedSteps.push(step);
  }

  async beginStop(): Promise<void> {
    if (this.stoppingSince !== null) return;
    this.stoppingSince = Date.now();
    await this.run(this.stopSteps, 'stop');
  }

  async forceStop(): Promise<void> {
    await this.run(this.forcedSteps, 'forced stop');
  }

  private async run(steps: Step[], phase: string): Promise<void> {
    await Promise.all(
      steps.map(async (step) => {
        try {
          await step();
        } catch (err) {
          this.logger.warn({ phase, err: (err as Error).message }, 'shutdown step failed');
        }
      }),
    );
  }
}
