import type { CallSyncRow, SyncWithCall } from './call-sync.repository';
import type { SyncAction, SyncStatus } from './crm-jobs';
import type { LiveConnector } from '../runtime/live-connector';

/** How an attempt ended, for the call_sync row. */
export class Outcome {
  constructor(
    readonly status: Exclude<SyncStatus, 'pending'>,
    readonly note: string | null = null,
    readonly externalId: string | null = null,
    /** Why it failed, as the failed-actions metric labels it. */
    readonly reason: string | null = null,
    /** For pops: every extension the card has been shown to. */
    readonly popped: string[] | null = null,
  ) {}

  static done(externalId: string | null = null): Outcome {
    return new Outcome('done', null, externalId);
  }

  static popped(extensions: string[]): Outcome {
    return new Outcome('done', null, null, null, extensions);
  }

  static skipped(note: string): Outcome {
    return new Outcome('skipped', note);
  }

  static failed(note: string, reason: string): Outcome {
    return new Outcome('failed', note, null, reason);
  }
}

/** A claimed action, ready to be sent. */
export interface ActionJob extends SyncWithCall {
  live: LiveConnector;
}

/**
 * One CRM action. The dispatcher loads, claims and finishes the row; the action decides
 * what to send. It returns the outcome, or null when it finished the rows itself (a log
 * batch finishes every call it carried).
 */
export interface CrmAction {
  perform(job: ActionJob): Promise<Outcome | null>;
}

export type { CallSyncRow };

/** The key a CRM can deduplicate an action by: the hub's call id plus the action. */
export function idempotencyKey(callId: string, action: SyncAction): string {
  return `${callId}:${action}`;
}
