import { Injectable } from '@nestjs/common';
import { Clock } from '../../common/clock';
import { RetryLaterError } from '../../queue/queue.constants';
import { CallInfoMapper } from './call-info.mapper';
import { CallSyncRepository } from './call-sync.repository';
import { ActionJob, CrmAction, idempotencyKey, Outcome } from './crm-action';
import { FailurePolicy } from './failure-policy';
import { poppedOf } from './pop.action';

/**
 * Closes the cards a call's pop showed: at the end, every one; while the call goes on (it was
 * transferred), those of the agents who no longer have it. A pop that never went out is
 * skipped instead when the call ends.
 */
@Injectable()
export class HangupAction implements CrmAction {
  constructor(
    private readonly mapper: CallInfoMapper,
    private readonly ledger: CallSyncRepository,
    private readonly policy: FailurePolicy,
    private readonly clock: Clock,
  ) {}

  async perform({ sync, call, live }: ActionJob): Promise<Outcome> {
    const pop = await this.ledger.sibling(sync, 'pop');
    const popInFlight =
      pop?.status === 'pending' &&
      pop.claimed_until !== null &&
      new Date(pop.claimed_until).getTime() > this.clock.nowMs();
    if (popInFlight) {
      throw new RetryLaterError('the pop is still being sent', this.policy.siblingWait('hangup'));
    }
    const ended = call.status === 'ended';
    // Never sent: it must not pop now that the call has ended.
    if (ended && pop?.status === 'pending')
      await this.ledger.skipUnsent(pop.id, 'the call ended before the card could pop');
    const popped = poppedOf(pop);
    const left = ended ? popped : popped.filter((ext) => ext !== call.extension);
    if (left.length === 0) return Outcome.skipped('no card was shown');
    await live.use('screenPop').hideCall({
      call: await this.mapper.toCallInfo(call, live.integration),
      target: await this.mapper.target(live.integration, left),
      idempotencyKey: ended
        ? idempotencyKey(call.call_id, 'hangup')
        : `${idempotencyKey(call.call_id, 'hangup')}:${call.extension ?? ''}`,
    });
    return Outcome.done();
  }
}
