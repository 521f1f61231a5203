/** Queue names. Jobs carry ids only; every handler is idempotent. */
export const CALLS_QUEUE = 'calls';
export const CRM_QUEUE = 'crm';
export const QUEUES = [CALLS_QUEUE, CRM_QUEUE] as const;
export type QueueName = (typeof QUEUES)[number];

/** A handler throws this to be retried after a specific delay (e.g. a CRM's Retry-After). */
export class RetryLaterError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(message);
  }
}
