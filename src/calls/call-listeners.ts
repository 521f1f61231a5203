import { Injectable } from '@nestjs/common';
import type { Sql } from '../common/sql';
import type { NormalizedEvent } from './call-event';
import type { CallState } from './call-state';

export interface CallRowRef {
  pk: string;
  tenantId: string;
  callId: string;
}

export interface CallChange {
  call: CallRowRef;
  previous: CallState | null;
  next: CallState;
  newEvents: NormalizedEvent[];
}

/**
 * Reacts to a call's change inside the processing transaction (e.g. plans CRM
 * actions) and returns work to start once the transaction has committed.
 */
export interface CallChangeListener {
  /** Whether calls of this tenant concern the listener at all (skips work on the hot path). */
  interested(tenantId: string): Promise<boolean>;
  onCallChanged(tx: Sql, change: CallChange): Promise<(() => Promise<void>) | void>;
}

/**
 * Who listens to call changes. Rooms above calls register themselves here when their
 * module starts, so calls never imports them.
 */
@Injectable()
export class CallListeners {
  private readonly listeners: CallChangeListener[] = [];

  register(listener: CallChangeListener): void {
    if (!this.listeners.includes(listener)) this.listeners.push(listener);
  }

  /** The listeners that care about this tenant's calls. */
  async for(tenantId: string): Promise<CallChangeListener[]> {
    const out: CallChangeListener[] = [];
    for (const l of this.listeners) if (await l.interested(tenantId)) out.push(l);
    return out;
  }
}
