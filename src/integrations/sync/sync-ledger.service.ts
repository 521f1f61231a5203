import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../../common/clock';
import { Metrics } from '../../observability/metrics.service';
import { e164 } from './call-info.mapper';
import { CallSyncRepository, SyncWithCall } from './call-sync.repository';
import { Outcome } from './crm-action';
import { describe, FailurePolicy } from './failure-policy';

/** How long a read of the failing actions serves scrapes (every instance reads the same rows). */
const FAILING_TTL_MS = 5000;

/**
 * Claims, releases and finishes CRM actions on the call_sync ledger, and counts what
 * finished. The dispatcher and the batching log action share it.
 */
@Injectable()
export class SyncLedger {
  private readonly logger = new Logger('CrmActions');
  private failingReadAt = -Infinity;

  constructor(
    private readonly repo: CallSyncRepository,
    private readonly policy: FailurePolicy,
    private readonly metrics: Metrics,
    private readonly clock: Clock,
  ) {
    metrics.beforeScrape(() => this.refreshFailing());
  }

  /** hub_crm_actions_failing from the ledger, read at most every FAILING_TTL_MS. */
  private async refreshFailing(): Promise<void> {
    const now = this.clock.nowMs();
    if (now - this.failingReadAt < FAILING_TTL_MS) return;
    this.failingReadAt = now;
    const rows = await this.repo.failingByTenant();
    // Series of tenants that recovered go away with the reset.
    this.metrics.syncFailing.reset();
    for (const r of rows)
      this.metrics.syncFailing.set({ tenant: r.tenant, connector: r.connector }, r.n);
  }

  /** Takes the action for this worker; false when another worker holds a live claim. */
  claim(syncId: string): Promise<boolean> {
    const now = this.clock.now();
    return this.repo.claim(syncId, now, new Date(now.getTime() + this.policy.claimMs));
  }

  /**
   * Lets go after an attempt that did not finish; `failed` (not throttled, not waiting) grows
   * the backoff, `retryInMs` is when the next attempt is due.
   */
  release(syncId: string, err: unknown, failed: boolean, retryInMs: number | null): Promise<void> {
    const retryAt = retryInMs === null ? null : new Date(this.clock.nowMs() + retryInMs);
    return this.repo.release(syncId, describe(err), failed, retryAt);
  }

  markSent(syncId: string): Promise<void> {
    return this.repo.markSent(syncId, this.clock.now());
  }

  async finish(job: SyncWithCall, connector: string, outcome: Outcome): Promise<void> {
    await this.repo.finish(job.sync.id, outcome, this.clock.now());
    const labels = { connector, action: job.sync.action };
    if (outcome.status === 'done') this.metrics.syncDone.inc(labels);
    if (outcome.status === 'failed') {
      this.metrics.syncDeadLettered.inc({ ...labels, reason: outcome.reason ?? 'failed' });
      this.metrics.syncDeadLetteredByTenant.inc({ ...labels, tenant: job.call.tenant_id });
      this.logger.warn(
        {
          tenantId: job.call.tenant_id,
          callId: job.call.call_id,
          action: job.sync.action,
          reason: outcome.note,
        },
        'CRM action failed',
      );
    }
  }

  /**
   * Events may arrive in any order: a call whose end came before its start has no customer
   * number yet. How long to wait for the rest rather than send a CRM a hollow call (null: go).
   */
  dataWait(job: SyncWithCall): number | null {
    const { sync, call } = job;
    if (call.direction === 'internal') return null;
    if (e164(call.direction === 'inbound' ? call.from_number : call.to_number)) return null;
    return this.policy.dataWait(
      sync.action,
      this.clock.nowMs() - new Date(sync.created_at).getTime(),
    );
  }
}
