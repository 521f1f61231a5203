import { Injectable } from '@nestjs/common';
import { Clock } from '../../common/clock';
import { CallInfoMapper } from './call-info.mapper';
import { CallSyncRepository, SyncWithCall } from './call-sync.repository';
import { ActionJob, CrmAction, idempotencyKey, Outcome } from './crm-action';
import { SyncLedger } from './sync-ledger.service';

/**
 * Logs the call and, in the same request, other due calls of the integration, up to the
 * connector's batch limit. Each call's row is finished with its own outcome.
 */
@Injectable()
export class LogAction implements CrmAction {
  constructor(
    private readonly mapper: CallInfoMapper,
    private readonly repo: CallSyncRepository,
    private readonly ledger: SyncLedger,
    private readonly clock: Clock,
  ) {}

  async perform(job: ActionJob): Promise<null> {
    const { live } = job;
    const batch: SyncWithCall[] = [job];
    // Logs that wait only to share a request (the connector's batch wait) come along now.
    const waitMs = live.definition.limits?.logBatchWaitMs ?? 0;
    const others = await this.repo.dueLogs(
      live.integration.id,
      job.sync.id,
      this.clock.now(),
      live.logBatch - 1,
      new Date(this.clock.nowMs() + waitMs),
    );
    for (const other of others) {
      if (this.ledger.dataWait(other) === null && (await this.ledger.claim(other.sync.id)))
        batch.push(other);
    }
    try {
      const items = await Promise.all(
        batch.map(async (b) => ({
          call: await this.mapper.toCallInfo(b.call, live.integration),
          idempotencyKey: idempotencyKey(b.call.call_id, 'log'),
        })),
      );
      const outcomes = await live.use('callLog').logCalls({ items });
      const byCall = new Map(outcomes.map((o) => [o.callId, o]));
      for (const b of batch) {
        const o = byCall.get(b.call.call_id);
        const outcome = !o
          ? Outcome.failed('the connector returned no outcome for this call', 'rejected')
          : o.ok
            ? Outcome.done(o.externalId ?? null)
            : Outcome.failed(o.error ?? 'rejected by the CRM', 'rejected');
        await this.ledger.finish(b, live.definition.id, outcome);
      }
      return null;
    } catch (err) {
      for (const b of batch.slice(1)) await this.ledger.release(b.sync.id, err, true, null);
      throw err;
    }
  }
}
