import { Injectable, OnModuleInit } from '@nestjs/common';
import { CallChange, CallChangeListener, CallListeners } from '../../calls/call-listeners';
import { Clock } from '../../common/clock';
import type { Sql } from '../../common/sql';
import { TenantsService } from '../../tenants/tenants.service';
import type { Integration } from '../integration.entity';
import { IntegrationsService } from '../integrations.service';
import { CallSyncRepository } from './call-sync.repository';
import type { SyncAction } from './crm-jobs';
import { SyncQueue } from './sync-queue';

interface Planned {
  integration: Integration;
  action: SyncAction;
  notBefore: Date | null;
  /** Re-open a finished row (a pop for newly ringing agents). */
  rearm?: boolean;
}

/** The tenant's default when it has none: how long a log waits for an announced recording. */
const DEFAULT_RECORDING_WAIT_S = 120;

/**
 * Decides, inside the call's processing transaction, which CRM actions a change calls for.
 * The call_sync rows (unique per call × integration × action) are the ledger that keeps
 * every CRM write exactly-once; jobs are queued after commit. It registers itself with
 * calls, which never imports it.
 */
@Injectable()
export class SyncPlanner implements CallChangeListener, OnModuleInit {
  constructor(
    private readonly listeners: CallListeners,
    private readonly integrations: IntegrationsService,
    private readonly tenants: TenantsService,
    private readonly ledger: CallSyncRepository,
    private readonly queue: SyncQueue,
    private readonly clock: Clock,
  ) {}

  onModuleInit(): void {
    this.listeners.register(this);
  }

  async interested(tenantId: string): Promise<boolean> {
    return (await this.integrations.enabled(tenantId)).length > 0;
  }

  async onCallChanged(tx: Sql, change: CallChange): Promise<(() => Promise<void>) | void> {
    const { call } = change;
    const integrations = await this.integrations.enabled(call.tenantId);
    if (integrations.length === 0) return;
    const plans = await this.plan(integrations, change);
    if (plans.length === 0) return;

    const jobs: { syncId: string; action: SyncAction; delayMs: number }[] = [];
    for (const p of plans) {
      const row = await this.ledger.plan(tx, {
        callPk: call.pk,
        integrationId: p.integration.id,
        action: p.action,
        notBefore: p.notBefore,
        rearm: p.rearm ?? false,
      });
      if (row.status !== 'pending') continue;
      jobs.push({
        syncId: row.id,
        action: p.action,
        delayMs: p.notBefore ? Math.max(0, p.notBefore.getTime() - this.clock.nowMs()) : 0,
      });
    }
    return async () => {
      await Promise.all(jobs.map((j) => this.queue.action(j.syncId, j.action, j.delayMs)));
    };
  }

  private async plan(integrations: Integration[], change: CallChange): Promise<Planned[]> {
    const { call, previous, next } = change;
    const plans: Planned[] = [];
    const justEnded = next.status === 'ended' && previous?.status !== 'ended';
    const inbound = next.direction === 'inbound';
    const waitS =
      (await this.tenants.find(call.tenantId))?.recordingWaitS ?? DEFAULT_RECORDING_WAIT_S;

    for (const integration of integrations) {
      const can = (c: Parameters<IntegrationsService['supports']>[1]) =>
        this.integrations.supports(integration, c);
      const s = integration.settings;
      if (inbound && s.popOnRinging && can('screenPop') && next.status !== 'ended') {
        const before = new Set(previous?.ringing ?? []);
        if (next.ringing.some((ext) => !before.has(ext)))
          plans.push({ integration, action: 'pop', notBefore: null, rearm: true });
        // Transferred: the card closes for whoever handed the call on.
        const handedOn =
          previous?.answeredAt && previous.extension && next.extension !== previous.extension;
        if (handedOn) plans.push({ integration, action: 'hangup', notBefore: null, rearm: true });
      }
      if (!justEnded) {
        // A recording that arrives after the end: let a waiting log go now, or attach it.
        if (next.status === 'ended' && next.recordingUrl && !previous?.recordingUrl) {
          if (s.logCalls && can('callLog'))
            plans.push({ integration, action: 'log', notBefore: null });
          if (s.attachRecordings && can('recording'))
            plans.push({ integration, action: 'recording', notBefore: null });
        }
        continue;
      }
      // Re-armed: a card closed at a transfer does not keep the others open.
      if (inbound && can('screenPop'))
        plans.push({ integration, action: 'hangup', notBefore: null, rearm: true });
      if (inbound && can('leadCreate') && s.createLeadFor !== 'none') {
        // A call that failed before reaching anyone (never rang) is no lead.
        const missed =
          next.result === 'missed' || next.result === 'busy' || next.result === 'cancelled';
        const wanted =
          s.createLeadFor === 'unknown' ? missed || next.result === 'answered' : missed;
        if (wanted) plans.push({ integration, action: 'lead', notBefore: null });
      }
      if (s.logCalls && can('callLog')) {
        // A CRM that cannot add a recording to a logged call waits for an announced one.
        const waits =
          next.recordingExpected && !next.recordingUrl && s.attachRecordings && !can('recording');
        const batchWaitMs = this.integrations.logBatchWaitMs(integration);
        plans.push({
          integration,
          action: 'log',
          notBefore:
            waits && next.endedAt
              ? new Date(next.endedAt.getTime() + waitS * 1000)
              : batchWaitMs > 0
                ? new Date(this.clock.nowMs() + batchWaitMs)
                : null,
        });
      }
      if (next.recordingUrl && s.attachRecordings && can('recording')) {
        plans.push({ integration, action: 'recording', notBefore: null });
      }
    }
    return plans;
  }
}
