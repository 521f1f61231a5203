import { Injectable } from '@nestjs/common';
import { CallEventsRepository } from '../../calls/call-events.repository';
import { ringingOf } from '../../calls/calls.repository';
import { Clock } from '../../common/clock';
import { jsonColumn } from '../../common/sql';
import { Metrics } from '../../observability/metrics.service';
import { SendingScope } from '../runtime/sending-scope';
import type { CallSyncRow } from './call-sync.repository';
import { CallInfoMapper } from './call-info.mapper';
import { ActionJob, CrmAction, idempotencyKey, Outcome } from './crm-action';

/** The extensions a pop row already showed the card to (rows of older hubs kept them in external_id). */
export function poppedOf(row: Pick<CallSyncRow, 'popped' | 'external_id'> | null): string[] {
  if (!row) return [];
  if (row.popped !== null) return jsonColumn<string[]>(row.popped);
  return (row.external_id ?? '').split(',').filter(Boolean);
}

/** Shows the caller's card to every ringing agent not shown it yet; never after the call ended. */
@Injectable()
export class PopAction implements CrmAction {
  constructor(
    private readonly mapper: CallInfoMapper,
    private readonly events: CallEventsRepository,
    private readonly metrics: Metrics,
    private readonly clock: Clock,
  ) {}

  async perform({ sync, call, live }: ActionJob): Promise<Outcome> {
    if (call.status === 'ended') return Outcome.skipped('the call ended before the card could pop');
    const popped = new Set(poppedOf(sync));
    const ringing = ringingOf(call).filter((ext) => !popped.has(ext));
    if (ringing.length === 0) return Outcome.popped([...popped]);
    const target = await this.mapper.target(live.integration, ringing);
    const info = await this.mapper.toCallInfo(call, live.integration);
    const received = await this.events.lastRingingReceivedAt(call.tenant_id, call.call_id);
    // Measured when the pop's first request leaves (after its rate-limit slot): "stored →
    // sent", without the mapping before it or the CRM's answer after it.
    const sent = async (): Promise<void> => {
      if (received)
        this.metrics.popLatency.observe((this.clock.nowMs() - received.getTime()) / 1000);
    };
    await SendingScope.run(sent, () =>
      live.use('screenPop').showCall({
        call: info,
        target,
        idempotencyKey: idempotencyKey(call.call_id, 'pop'),
      }),
    );
    for (const ext of ringing) popped.add(ext);
    return Outcome.popped([...popped]);
  }
}
