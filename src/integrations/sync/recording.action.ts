import { Injectable } from '@nestjs/common';
import { RetryLaterError } from '../../queue/queue.constants';
import { CallInfoMapper } from './call-info.mapper';
import { CallSyncRepository } from './call-sync.repository';
import { ActionJob, CrmAction, idempotencyKey, Outcome } from './crm-action';
import { FailurePolicy } from './failure-policy';

/** Adds the recording to a call the CRM already logged. */
@Injectable()
export class RecordingAction implements CrmAction {
  constructor(
    private readonly mapper: CallInfoMapper,
    private readonly ledger: CallSyncRepository,
    private readonly policy: FailurePolicy,
  ) {}

  async perform({ sync, call, live }: ActionJob): Promise<Outcome> {
    if (!call.recording_url) return Outcome.skipped('no recording');
    const log = await this.ledger.sibling(sync, 'log');
    if (log?.status === 'pending') {
      throw new RetryLaterError('waiting for the call log', this.policy.siblingWait('recording'));
    }
    await live.use('recording').attachRecording({
      call: await this.mapper.toCallInfo(call, live.integration),
      idempotencyKey: idempotencyKey(call.call_id, 'recording'),
    });
    return Outcome.done();
  }
}
