import { Injectable } from '@nestjs/common';
import { ContactResolver } from '../../contacts/contact-resolver.service';
import { CallInfoMapper } from './call-info.mapper';
import { ActionJob, CrmAction, idempotencyKey, Outcome } from './crm-action';

/** A lead (or task) for a missed or unknown caller, per the integration's settings; at most one. */
@Injectable()
export class LeadAction implements CrmAction {
  constructor(
    private readonly mapper: CallInfoMapper,
    private readonly resolver: ContactResolver,
  ) {}

  async perform({ sync, call, live }: ActionJob): Promise<Outcome> {
    const info = await this.mapper.toCallInfo(call, live.integration);
    const key = idempotencyKey(call.call_id, 'lead');
    const leads = live.use('leadCreate');
    // An earlier attempt's request may have reached the CRM (the hub stopped, or the reply was
    // lost): find what it created before creating again.
    if (sync.sent_at !== null) {
      const earlier = await leads.findLead({ call: info, idempotencyKey: key });
      if (earlier) return Outcome.done(earlier.externalId);
    }
    const settings = live.integration.settings;
    const contact =
      info.customerPhone && live.canLookUp
        ? await this.resolver.resolve(live.integration.id, info.customerPhone, (phone) =>
            live.lookupContact(phone),
          )
        : null;
    if (settings.createLeadFor === 'unknown' && contact) {
      // Known now because the CRM made this call's lead when it was registered: that lead is
      // this action's.
      const own = live.definition.leadsAtRegistration
        ? await leads.findLead({ call: info, idempotencyKey: key })
        : null;
      return own ? Outcome.done(own.externalId) : Outcome.skipped('known caller');
    }
    if (settings.createLeadFor === 'missed' && info.result === 'answered')
      return Outcome.skipped('answered');
    const created = await leads.createLead({ call: info, contact, idempotencyKey: key });
    return Outcome.done(created.externalId);
  }
}
