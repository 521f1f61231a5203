import { BullModule } from '@nestjs/bull';
import { Global, Module } from '@nestjs/common';
import { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';
import { JobQueue } from './job-queue.service';
import { QUEUES, RetryLaterError } from './queue.constants';
import { redisOptionsFromUrl } from '../common/redis-options';

/** Retries stay frequent enough that work resumes within a minute of a CRM coming back. */
const MAX_BACKOFF_MS = 60 * 1000;

/** Exponential backoff that honours a RetryLaterError's delay. */
export function retryAfterBackoff(attemptsMade: number, err: Error): number {
  if (
    err instanceof RetryLaterError ||
    (err as Partial<RetryLaterError>).retryAfterMs !== undefined
  ) {
    return Math.max(50, (err as RetryLaterError).retryAfterMs);
  }
  const base = 1000 * 2 ** Math.max(0, attemptsMade - 1);
  return Math.min(MAX_BACKOFF_MS, base + Math.floor(Math.random() * 250));
}

@Global()
@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [APP_CONFIG],
      useFactory: (config: AppConfig) => ({
        redis: {
          ...redisOptionsFromUrl(config.redisUrl),
          maxRetriesPerRequest: null,
          enableReadyCheck: false,
        },
        prefix: config.redisPrefix,
        settings: {
          backoffStrategies: { retryAfter: retryAfterBackoff },
          stalledInterval: 5000,
          lockDuration: 15000,
          maxStalledCount: 1000,
        },
      }),
    }),
    ...QUEUES.map((name) => BullModule.registerQueue({ name })),
  ],
  providers: [JobQueue],
  exports: [JobQueue],
})
export class QueueModule {}
