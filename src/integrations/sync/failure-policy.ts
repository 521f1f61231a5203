import { Inject, Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/config';
import { APP_CONFIG } from '../../config/config.module';
import { ConnectorError, isConnectorError } from '../../connector-sdk';
import type { AddOptions } from '../../queue/job-queue.service';
import { RetryLaterError } from '../../queue/queue.constants';
import type { CallSyncRow } from './call-sync.repository';
import type { SyncAction } from './crm-jobs';

/** What to do after a failed attempt. */
export type Decision =
  /** Try again after `delayMs`; the attempt failed and the backoff grows. */
  | { kind: 'retry'; delayMs: number; reason: string }
  /** Try again after `delayMs`; nothing failed (throttled, or waiting for something). */
  | { kind: 'wait'; delayMs: number; reason: string }
  /** Final: the action is failed, visibly, and counted. */
  | { kind: 'fail'; reason: string; metric: string }
  /** The CRM refused the credentials or grant: the integration needs an admin; the action waits. */
  | { kind: 'reauth'; delayMs: number; reason: string };

/** Pops before hangups before leads before logs before recordings (Bull: 1 runs first). */
const PRIORITY: Record<SyncAction | 'install', number> = {
  install: 1,
  pop: 1,
  hangup: 2,
  lead: 3,
  log: 4,
  recording: 5,
};

/** How long a CRM action is retried by default: a day-long CRM outage loses nothing, with 2 h to spare. */
export const DEFAULT_MAX_AGE_S = 26 * 3600;
/** Retries stay frequent enough that work resumes within a minute of a CRM coming back. */
const MAX_BACKOFF_MS = 60_000;
const FIRST_BACKOFF_MS = 1000;
/** A throttled reply without a delay is retried after this long. */
const DEFAULT_THROTTLE_MS = 1000;
/** An action of an integration that needs re-auth looks again this often (a reconnect re-queues at once). */
const REAUTH_WAIT_MS = 5 * 60_000;
/** How long a claimed action may be in flight before its claim is considered dead. */
const DEFAULT_CLAIM_S = 60;
/** How long an action waits for a call's missing events before it goes ahead without them. */
const DATA_GRACE_MS: Record<SyncAction, number> = {
  pop: 3000,
  hangup: 0,
  lead: 30_000,
  log: 30_000,
  recording: 0,
};
/** How often it looks for them meanwhile. */
const DATA_POLL_MS: Record<SyncAction, number> = {
  pop: 100,
  hangup: 0,
  lead: 1000,
  log: 1000,
  recording: 0,
};
/** A hangup waits this long for a pop that is still being sent, a recording this long for its log. */
const WAIT_FOR_SIBLING_MS: Partial<Record<SyncAction, number>> = { hangup: 250, recording: 2000 };
/** Actions whose row is marked "sent" right before their request leaves (see tracksSending). */
const TRACKED_CREATES = new Set<SyncAction>(['lead']);
/** Retries are bounded by age, not by count: a throttled attempt must not use up a budget. */
const ATTEMPTS = 100_000;

/**
 * The one place that decides what a failed CRM action means: retry and after how long,
 * give up, or flag the integration for re-auth. Connectors classify their failures
 * (ConnectorError codes); every number of the retry policy lives here.
 */
@Injectable()
export class FailurePolicy {
  readonly maxAgeS: number;
  readonly claimMs: number;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.maxAgeS = config.crmMaxAgeS ?? DEFAULT_MAX_AGE_S;
    this.claimMs = (config.crmClaimS ?? DEFAULT_CLAIM_S) * 1000;
  }

  /**
   * A pending action untouched for this long, and due, has most likely lost its job (Redis
   * lost its data, or the hub crashed between the commit and the queue add): queue it again.
   * Retries keep their row's not_before, so a row in backoff is never taken for lost.
   */
  get lostAfterMs(): number {
    return Math.max(this.claimMs, 2 * FIRST_BACKOFF_MS);
  }

  jobOptions(action: SyncAction, delayMs = 0): AddOptions {
    return {
      priority: PRIORITY[action],
      attempts: ATTEMPTS,
      backoff: 'retry-after',
      delayMs: delayMs || undefined,
    };
  }

  installJobOptions(): AddOptions {
    return { priority: PRIORITY.install, attempts: ATTEMPTS, backoff: 'retry-after' };
  }

  /** True when the action has been retried for longer than the maximum age. */
  expired(row: Pick<CallSyncRow, 'created_at' | 'resumed_at'>, nowMs: number): boolean {
    return this.olderThanMaxAge(row.resumed_at ?? row.created_at, nowMs);
  }

  /** True when something wanted since `since` (an install) has waited past the maximum age. */
  olderThanMaxAge(since: Date | string, nowMs: number): boolean {
    return nowMs - new Date(since).getTime() > this.maxAgeS * 1000;
  }

  expiredReason(action: SyncAction): string {
    return `gave up after ${this.maxAgeS} s: ${action} never succeeded`;
  }

  /** How long to wait for a call's missing events before sending, or null to go ahead now. */
  dataWait(action: SyncAction, waitedMs: number): number | null {
    if (DATA_GRACE_MS[action] === 0 || waitedMs >= DATA_GRACE_MS[action]) return null;
    return DATA_POLL_MS[action];
  }

  /** How long an action waits for its sibling (a hangup for its pop, a recording for its log). */
  siblingWait(action: SyncAction): number {
    return WAIT_FOR_SIBLING_MS[action] ?? FIRST_BACKOFF_MS;
  }

  get reauthWaitMs(): number {
    return REAUTH_WAIT_MS;
  }

  /**
   * Whether the action creates something in the CRM that has no idempotency key there for
   * every connector: its row is marked right before a request leaves, so that after a
   * crash the action reconciles (finds the earlier attempt) instead of creating again.
   */
  tracksSending(action: SyncAction): boolean {
    return TRACKED_CREATES.has(action);
  }

  /** Decides from the connector's classification and the failed attempts so far. */
  decide(err: unknown, failures: number): Decision {
    const reason = describe(err);
    if (err instanceof RetryLaterError) return { kind: 'wait', delayMs: err.retryAfterMs, reason };
    if (isConnectorError(err)) {
      switch (err.code) {
        case 'rejected':
        case 'not_found':
          // address_not_allowed: the outbound policy refused the CRM's address; as final as a
          // rejection (no request left), counted under its own reason.
          return { kind: 'fail', reason, metric: err.details.reason ?? err.code };
        case 'auth_invalid':
          return { kind: 'reauth', delayMs: REAUTH_WAIT_MS, reason };
        case 'rate_limited':
          return { kind: 'wait', delayMs: err.retryAfterMs ?? DEFAULT_THROTTLE_MS, reason };
        case 'temporary':
          break;
      }
    }
    return { kind: 'retry', delayMs: this.backoff(failures), reason };
  }

  /** Exponential in the consecutive failures, capped, with jitter so a cluster does not retry in step. */
  backoff(failures: number): number {
    const base = FIRST_BACKOFF_MS * 2 ** Math.max(0, Math.min(failures - 1, 16));
    return Math.min(MAX_BACKOFF_MS, base + Math.floor(Math.random() * 250));
  }
}

export function describe(err: unknown): string {
  if (err instanceof ConnectorError || isConnectorError(err)) {
    return `${err.details?.reason ?? err.code}: ${err.message}`;
  }
  return (err as Error)?.message ?? String(err);
}
