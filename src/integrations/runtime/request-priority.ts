import { AsyncLocalStorage } from 'node:async_hooks';
import type { RateLimitBucket } from '../../connector-sdk';

/**
 * Which CRM requests may use the last part of a leaky bucket: card pops, whose agent is
 * looking at a ringing phone, and lookups outside any action (routing). Logs, hides, leads and
 * recordings stop short of it, so a backlog of them never delays a pop.
 */
export class RequestPriority {
  private static readonly storage = new AsyncLocalStorage<boolean>();

  /** Runs an action's work; `urgent` when it is a pop. */
  static run<T>(urgent: boolean, work: () => Promise<T>): Promise<T> {
    return RequestPriority.storage.run(urgent, work);
  }

  /** True for a pop, and for requests no action sent. */
  static urgent(): boolean {
    return RequestPriority.storage.getStore() ?? true;
  }
}

/** The share of a leaky bucket kept for urgent requests. */
export const URGENT_RESERVE = 0.4;
/**
 * A leaky bucket as a request sees it: a request that is not urgent may fill it only up to
 * what the urgent ones leave (URGENT_RESERVE). Windows are used whole.
 */
export function withReserve(bucket: RateLimitBucket, urgent: boolean): RateLimitBucket {
  if (urgent || bucket.burst === undefined) return bucket;
  return { ...bucket, burst: Math.max(1, Math.floor(bucket.burst * (1 - URGENT_RESERVE))) };
}
