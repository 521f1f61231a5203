import type { SyncAction } from './call-sync.entity';

/** CRM job payloads carry the call_sync row id only. */
export interface SyncJob {
  syncId: string;
}

/** Pops before hangups before leads before logs before recordings (Bull: 1 runs first). */
export const ACTION_PRIORITY: Record<SyncAction, number> = {
  pop: 1,
  hangup: 2,
  lead: 3,
  log: 4,
  recording: 5,
};

/** Retries are bounded by age (HUB_CRM_MAX_AGE_S), not by count. */
export const CRM_JOB_ATTEMPTS = 100000;

/** How long a claimed action may be in flight before its claim is considered dead. */
export const CLAIM_MS = 60000;

/** RetailCRM's documented maximum per calls/upload. */
export const LOG_BATCH = 50;
