/** The CRM actions a call can need, one call_sync row each per integration. */
export const SYNC_ACTIONS = ['pop', 'hangup', 'lead', 'log', 'recording'] as const;
export type SyncAction = (typeof SYNC_ACTIONS)[number];
export type SyncStatus = 'pending' | 'done' | 'failed' | 'skipped';

/** CRM action jobs carry the call_sync row id only; the job name is the action. */
export interface SyncJob {
  syncId: string;
}

/** Registers the hub in a CRM (integration-level, no call). */
export const INSTALL_JOB = 'install';
export interface InstallJob {
  integrationId: string;
}
