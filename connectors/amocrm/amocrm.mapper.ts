import type { CallInfo, CallResult, ContactMatch } from '../../src/connector-sdk';
import { clientLabel } from '../../src/connector-sdk';
import type { AmoCall, AmoComplexLead, AmoContact, AmoUnsortedSip } from './amocrm.client';

export interface MapOptions {
  /** The account host cards link to, e.g. example.amocrm.ru. */
  accountHost: string;
  sourceName: string;
  pipelineId?: number;
  statusId?: number;
}

/** The service code amoCRM files our calls and incoming leads under. */
export const SERVICE_CODE = 'telephony_hub';

const digits = (phone: string): string => phone.replace(/\D/g, '');

/** The last ten digits: how amoCRM itself matches a call to a contact. */
export function lastTen(phone: string): string {
  return digits(phone).slice(-10);
}

const unix = (d: Date): number => Math.floor(d.getTime() / 1000);

/** True when one of the contact's phones is this number (amoCRM's full-text query is loose). */
export function hasPhone(contact: AmoContact, phone: string): boolean {
  const wanted = lastTen(phone);
  if (wanted.length < 7) return false;
  return (contact.custom_fields_values ?? [])
    .filter((f) => f.field_code === 'PHONE')
    .some((f) => (f.values ?? []).some((v) => lastTen(String(v.value ?? '')) === wanted));
}

export function contactName(c: AmoContact): string | undefined {
  const full = [c.first_name, c.last_name].filter(Boolean).join(' ').trim();
  return c.name?.trim() || full || undefined;
}

export function toContact(c: AmoContact, o: Pick<MapOptions, 'accountHost'>): ContactMatch {
  return {
    id: String(c.id),
    name: contactName(c),
    url: `https://${o.accountHost}/contacts/detail/${c.id}`,
    responsible: c.responsible_user_id ? { crmUserId: String(c.responsible_user_id) } : null,
  };
}

/** amoCRM's call_status: 3 not available, 4 conversation held, 6 no connection, 7 busy. */
export function callStatus(result: CallResult | null): number {
  switch (result) {
    case 'answered':
      return 4;
    case 'busy':
      return 7;
    case 'missed':
      return 3;
    default:
      return 6;
  }
}

const RESULT_TEXT: Record<CallResult, string> = {
  answered: 'Answered',
  missed: 'Missed',
  busy: 'Busy',
  failed: 'Failed',
  cancelled: 'Cancelled by the caller',
};

/** A user id amoCRM takes, or undefined for none or a non-numeric id. */
export function userId(crmUserId: string | null | undefined): number | undefined {
  if (!crmUserId || !/^\d{1,12}$/.test(crmUserId)) return undefined;
  return Number(crmUserId);
}

/** A finished call as amoCRM logs it: `uniq` is the hub's call id, the agent its owner. */
export function toAmoCall(call: CallInfo, o: MapOptions, requestId: string): AmoCall {
  const agent = userId(call.crmUserId);
  return {
    direction: call.direction === 'outbound' ? 'outbound' : 'inbound',
    uniq: call.callId,
    duration: call.duration ?? 0,
    source: o.sourceName,
    phone: call.customerPhone ?? '',
    ...(call.recordingUrl ? { link: call.recordingUrl } : {}),
    call_status: callStatus(call.result),
    call_result: call.result ? RESULT_TEXT[call.result] : undefined,
    ...(agent ? { call_responsible: agent, responsible_user_id: agent, created_by: agent } : {}),
    created_at: unix(call.startedAt),
    request_id: requestId,
  };
}

/** The text that names the hub's lead of a call, so an earlier attempt can be found again. */
export function leadMarker(callId: string): string {
  return `[#${callId}]`;
}

export function leadName(call: CallInfo): string {
  const what = call.result === 'answered' ? 'Call from' : 'Missed call from';
  return `${what} ${clientLabel(call)} ${leadMarker(call.callId)}`;
}

/** An incoming lead in "Unsorted" for a call: one per call, keyed by `uniq`. */
export function toUnsorted(call: CallInfo, o: MapOptions, requestId: string): AmoUnsortedSip {
  const agent = userId(call.crmUserId);
  const phone = call.customerPhone ?? '';
  return {
    source_uid: `${SERVICE_CODE}:${call.line ?? 'line'}`,
    source_name: o.sourceName,
    ...(o.pipelineId ? { pipeline_id: o.pipelineId } : {}),
    created_at: unix(call.startedAt),
    request_id: requestId,
    metadata: {
      uniq: call.callId,
      from: phone,
      phone: call.extension ?? call.line ?? '',
      called_at: unix(call.startedAt),
      duration: call.duration ?? 0,
      ...(call.recordingUrl ? { link: call.recordingUrl } : {}),
      service_code: SERVICE_CODE,
      is_call_event_needed: true,
      ...(agent ? { call_responsible: agent } : {}),
    },
    _embedded: {
      leads: [{ name: leadName(call), ...(agent ? { responsible_user_id: agent } : {}) }],
      contacts: [{ name: phone || 'Hidden number' }],
    },
  };
}

/** A lead with its contact (the known one, or a new one with the caller's number). */
export function toComplexLead(
  call: CallInfo,
  contact: ContactMatch | null,
  o: MapOptions,
): AmoComplexLead {
  const owner = userId(contact?.responsible?.crmUserId) ?? userId(call.crmUserId);
  const known = contact && /^\d+$/.test(contact.id) ? Number(contact.id) : undefined;
  return {
    name: leadName(call),
    ...(owner ? { responsible_user_id: owner } : {}),
    ...(o.pipelineId ? { pipeline_id: o.pipelineId } : {}),
    ...(o.pipelineId && o.statusId ? { status_id: o.statusId } : {}),
    _embedded: {
      contacts: known
        ? [{ id: known }]
        : [
            {
              first_name: call.customerPhone ?? 'Hidden number',
              ...(owner ? { responsible_user_id: owner } : {}),
              custom_fields_values: call.customerPhone
                ? [
                    {
                      field_code: 'PHONE',
                      values: [{ value: call.customerPhone, enum_code: 'WORK' }],
                    },
                  ]
                : [],
            },
          ],
    },
  };
}
