import { Injectable } from '@nestjs/common';
import type { EntityManager } from 'typeorm';
import type { NormalizedEvent } from '../calls/call-event';
import type { CallChangeListener, CallRowRef } from '../calls/call-processor.service';
import type { CallState } from '../calls/call-state';
import { sqlTime } from '../calls/ingest.service';
import { TenantsService } from '../tenants/tenants.service';
import { JobQueue } from '../queue/job-queue.service';
import { CRM_QUEUE } from '../queue/queue.constants';
import type { SyncAction } from './call-sync.entity';
import { ConnectorRuntime } from './connector-runtime.service';
import { ACTION_PRIORITY, CRM_JOB_ATTEMPTS, SyncJob } from './crm-jobs';
import type { Integration } from './integration.entity';
import { IntegrationsService } from './integrations.service';

interface Planned {
  integration: Integration;
  action: SyncAction;
  notBefore: Date | null;
  /** Re-open a finished row (a pop for newly ringing agents). */
  rearm?: boolean;
}

/**
 * Decides, inside the call's processing transaction, which CRM actions a change
 * calls for. The call_sync rows (unique per call × integration × action) are the
 * ledger that keeps every CRM write exactly-once; jobs are queued after commit.
 */
@Injectable()
export class SyncPlanner implements CallChangeListener {
  constructor(
    private readonly integrations: IntegrationsService,
    private readonly runtime: ConnectorRuntime,
    private readonly tenants: TenantsService,
    private readonly queue: JobQueue,
  ) {}

  async interested(tenantId: string): Promise<boolean> {
    return (await this.integrations.enabled(tenantId)).length > 0;
  }

  async onCallChanged(
    tx: EntityManager,
    call: CallRowRef,
    previous: CallState | null,
    next: CallState,
    _newEvents: NormalizedEvent[],
  ): Promise<(() => Promise<void>) | void> {
    const integrations = await this.integrations.enabled(call.tenantId);
    if (integrations.length === 0) return;
    const tenant = await this.tenants.find(call.tenantId);
    const plans: Planned[] = [];
    const justEnded = next.status === 'ended' && previous?.status !== 'ended';
    const inbound = next.direction === 'inbound';

    for (const integration of integrations) {
      const can = (c: Parameters<ConnectorRuntime['supports']>[1]) =>
        this.runtime.supports(integration, c);
      const s = integration.settings;
      if (inbound && s.popOnRinging && can('screenPop') && next.status !== 'ended') {
        const before = new Set(previous?.ringing ?? []);
        if (next.ringing.some((ext) => !before.has(ext)))
          plans.push({ integration, action: 'pop', notBefore: null, rearm: true });
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
      if (inbound && can('screenPop'))
        plans.push({ integration, action: 'hangup', notBefore: null });
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
        const waitS = tenant?.recordingWaitS ?? 120;
        plans.push({
          integration,
          action: 'log',
          notBefore: waits && next.endedAt ? new Date(next.endedAt.getTime() + waitS * 1000) : null,
        });
      }
      if (next.recordingUrl && s.attachRecordings && can('recording')) {
        plans.push({ integration, action: 'recording', notBefore: null });
      }
    }
    if (plans.length === 0) return;

    const jobs: { syncId: string; action: SyncAction; delayMs: number }[] = [];
    for (const p of plans) {
      const notBefore = p.notBefore ? sqlTime(p.notBefore) : null;
      await tx.query(
        `INSERT INTO call_sync (call_pk, integration_id, action, status, not_before)
         VALUES (?, ?, ?, 'pending', ?)
         ON DUPLICATE KEY UPDATE
           status = IF(? AND status IN ('done', 'skipped'), 'pending', status),
           not_before = IF(status = 'pending', ?, not_before)`,
        [call.pk, p.integration.id, p.action, notBefore, p.rearm ? 1 : 0, notBefore],
      );
      const [row] = (await tx.query(
        'SELECT id, status FROM call_sync WHERE call_pk = ? AND integration_id = ? AND action = ?',
        [call.pk, p.integration.id, p.action],
      )) as { id: string; status: string }[];
      if (row.status !== 'pending') continue;
      jobs.push({
        syncId: String(row.id),
        action: p.action,
        delayMs: p.notBefore ? Math.max(0, p.notBefore.getTime() - Date.now()) : 0,
      });
    }
    return async () => {
      await Promise.all(jobs.map((j) => this.enqueue(j.syncId, j.action, j.delayMs)));
    };
  }

  async enqueue(syncId: string, action: SyncAction, delayMs = 0): Promise<void> {
    await this.queue.add<SyncJob>(
      CRM_QUEUE,
      action,
      { syncId },
      {
        priority: ACTION_PRIORITY[action],
        attempts: CRM_JOB_ATTEMPTS,
        backoff: 'retry-after',
        delayMs: delayMs || undefined,
      },
    );
  }
}
