import { createHash } from 'node:crypto';
import type {
  AgentMapping,
  CallInfo,
  CallResult,
  ContactMatch,
  PopTarget,
  ResponsibleUser,
} from '../../src/connector-sdk';
import { clientLabel, phoneVariants as sdkPhoneVariants } from '../../src/connector-sdk';
import type {
  RcCall,
  RcCallEvent,
  RcCallResult,
  RcHangupStatus,
  RcIntegrationModule,
  RcManager,
  RcManagerResponse,
  RcOrder,
  RcTask,
} from './retailcrm.client';

/** "+7 (916) 123-45-67" → "79161234567": RetailCRM takes numbers as bare digits. */
export function phoneDigits(phone: string): string {
  return phone.replace(/\D/g, '');
}

/**
 * The spellings to look a number up by, canonical first. RetailCRM compares stored
 * numbers as entered, and Russian customers are often stored with the trunk "8", so a
 * +7 number that misses is retried once as 8XXXXXXXXXX. Unknown callers cost two
 * requests in the 40 req/s telephony bucket; known ones stay at one. Of the SDK's
 * spellings only the full-length digit forms apply: RetailCRM takes bare digits.
 */
export function phoneVariants(e164: string): string[] {
  const digits = phoneDigits(e164);
  return sdkPhoneVariants(e164).filter((v) => /^\d+$/.test(v) && v.length === digits.length);
}

/** A positive integer id, or undefined (RetailCRM user and customer ids are numbers). */
export function numericId(id: string | null | undefined): number | undefined {
  if (!id || !/^\d+$/.test(id)) return undefined;
  const n = Number(id);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

function fullName(person: {
  firstName?: string;
  lastName?: string;
  patronymic?: string;
}): string | undefined {
  const name = [person.firstName, person.patronymic, person.lastName]
    .filter((p): p is string => Boolean(p && p.trim()))
    .join(' ');
  return name || undefined;
}

export function toResponsible(manager: RcManager | undefined): ResponsibleUser | null {
  if (!manager || manager.id === undefined || manager.id === null) return null;
  const user: ResponsibleUser = { crmUserId: String(manager.id) };
  const name = fullName(manager);
  if (name) user.name = name;
  if (manager.code) user.extension = manager.code;
  return user;
}

/** A manager without a customer is not responsible for this caller, so no customer → null. */
export function toContact(reply: RcManagerResponse): ContactMatch | null {
  const customer = reply.customer;
  if (!customer || customer.id === undefined || customer.id === null) return null;
  const contact: ContactMatch = {
    id: String(customer.id),
    responsible: toResponsible(reply.manager),
  };
  const name = fullName(customer);
  if (name) contact.name = name;
  if (reply.links?.customerLink) contact.url = reply.links.customerLink;
  return contact;
}

const pad = (n: number): string => String(n).padStart(2, '0');
const formatters = new Map<string, Intl.DateTimeFormat>();

/** "Y-m-d H:i:s" (or "Y-m-d H:i") of a moment in the given IANA zone; UTC by default. */
export function formatDateTime(date: Date, timezone?: string, withSeconds = true): string {
  let parts: Record<string, number>;
  if (!timezone || timezone === 'UTC') {
    parts = {
      year: date.getUTCFullYear(),
      month: date.getUTCMonth() + 1,
      day: date.getUTCDate(),
      hour: date.getUTCHours(),
      minute: date.getUTCMinutes(),
      second: date.getUTCSeconds(),
    };
  } else {
    let format = formatters.get(timezone);
    if (!format) {
      format = new Intl.DateTimeFormat('en-US', {
        timeZone: timezone,
        hourCycle: 'h23',
        year: 'numeric',
        month: 'numeric',
        day: 'numeric',
        hour: 'numeric',
        minute: 'numeric',
        second: 'numeric',
      });
      formatters.set(timezone, format);
    }
    parts = {};
    for (const part of format.formatToParts(date)) {
      if (part.type !== 'literal') parts[part.type] = Number(part.value);
    }
  }
  const day = `${parts.year}-${pad(parts.month)}-${pad(parts.day)}`;
  const time = `${pad(parts.hour)}:${pad(parts.minute)}`;
  return withSeconds ? `${day} ${time}:${pad(parts.second)}` : `${day} ${time}`;
}

export interface MapOptions {
  site?: string;
  timezone?: string;
}

function direction(call: CallInfo): 'in' | 'out' {
  return call.direction === 'outbound' ? 'out' : 'in';
}

function userIds(ids: string[]): number[] {
  return ids.map(numericId).filter((id): id is number => id !== undefined);
}

/** The card pop: RetailCRM shows the caller to the users behind `codes` / `userIds`. */
export function toPopEvent(call: CallInfo, target: PopTarget, options: MapOptions): RcCallEvent {
  const event: RcCallEvent = {
    phone: phoneDigits(call.customerPhone ?? ''),
    type: direction(call),
    codes: target.extensions,
  };
  const ids = userIds(target.crmUserIds);
  if (ids.length) event.userIds = ids;
  event.callExternalId = call.callId;
  if (call.line) event.externalPhone = phoneDigits(call.line);
  if (options.site) event.site = options.site;
  return event;
}

const HANGUP_STATUS: Record<CallResult, RcHangupStatus> = {
  answered: 'answered',
  busy: 'busy',
  cancelled: 'cancel',
  failed: 'failed',
  missed: 'no answered',
};

export function toHangupEvent(call: CallInfo, target: PopTarget, options: MapOptions): RcCallEvent {
  // A card closed while the call goes on (transferred) closes on a call that was answered.
  const hangupStatus = HANGUP_STATUS[call.result ?? (call.answeredAt ? 'answered' : 'missed')];
  return { ...toPopEvent(call, target, options), type: 'hangup', hangupStatus };
}

// In the history a caller who gave up before an answer is a missed call: "no answer".
const CALL_RESULT: Record<CallResult, RcCallResult> = {
  answered: 'answered',
  busy: 'busy',
  failed: 'failed',
  missed: 'no answer',
  cancelled: 'no answer',
};

const seconds = (from: Date, to: Date): number =>
  Math.max(0, Math.round((to.getTime() - from.getTime()) / 1000));

/** A finished call as a history record, or the reason RetailCRM cannot take it. */
export function toUploadCall(call: CallInfo, options: MapOptions): RcCall | { error: string } {
  if (call.direction === 'internal')
    return { error: 'RetailCRM has no history type for internal calls' };
  if (!call.customerPhone) return { error: 'call has no customer phone' };
  const record: RcCall = {
    date: formatDateTime(call.startedAt, options.timezone),
    type: direction(call),
    phone: phoneDigits(call.customerPhone),
    result: call.result ? CALL_RESULT[call.result] : 'unknown',
    externalId: call.callId,
  };
  if (call.extension) record.code = call.extension;
  const userId = numericId(call.crmUserId);
  if (userId !== undefined) record.userId = userId;
  record.duration = call.duration ?? 0;
  const waitedUntil = call.answeredAt ?? call.endedAt;
  if (waitedUntil) record.durationWaiting = seconds(call.startedAt, waitedUntil);
  if (call.recordingUrl) record.recordUrl = call.recordingUrl;
  if (call.line) record.externalPhone = phoneDigits(call.line);
  if (options.site) record.site = options.site;
  return record;
}

function leadSubject(call: CallInfo): string {
  const phone = clientLabel(call, 'unknown number');
  if (call.result && call.result !== 'answered') return `Missed call from ${phone}`;
  return `Call from ${phone}`;
}

function leadDetails(call: CallInfo, options: MapOptions): string {
  const lines = [`Call ${call.callId} at ${formatDateTime(call.startedAt, options.timezone)}`];
  if (call.line) lines.push(`Line ${call.line}`);
  if (call.extension) lines.push(`Extension ${call.extension}`);
  return lines.join('\n');
}

function responsibleId(call: CallInfo, contact: ContactMatch | null): number | undefined {
  return numericId(call.crmUserId) ?? numericId(contact?.responsible?.crmUserId);
}

const digest = (key: string): string => createHash('sha256').update(key).digest('hex');

/**
 * The short mark a task's text carries so a retry can find the task an earlier attempt
 * made (RetailCRM tasks take no external id): "hub-" and 10 hex digits of the key.
 */
export function leadMarker(idempotencyKey: string): string {
  return `hub-${digest(idempotencyKey).slice(0, 10)}`;
}

/** An order's externalId for the key: RetailCRM refuses a second order with the same one. */
export function orderExternalId(idempotencyKey: string): string {
  return `hub-${digest(idempotencyKey).slice(0, 24)}`;
}

/** A call-back task, due now, for the agent or the contact's responsible manager. */
export function toTask(
  call: CallInfo,
  contact: ContactMatch | null,
  now: Date,
  options: MapOptions,
  marker: string,
): RcTask {
  const task: RcTask = {
    text: `${leadSubject(call)} (${marker})`,
    commentary: leadDetails(call, options),
    datetime: formatDateTime(now, options.timezone, false),
  };
  if (call.customerPhone) task.phone = phoneDigits(call.customerPhone);
  const performerId = responsibleId(call, contact);
  if (performerId !== undefined) task.performerId = performerId;
  const customerId = numericId(contact?.id);
  if (customerId !== undefined) task.customer = { id: customerId };
  return task;
}

/** An order flagged "call back" (`call: true`). */
export function toOrder(
  call: CallInfo,
  contact: ContactMatch | null,
  options: MapOptions & { orderMethod?: string; externalId: string },
): RcOrder {
  const order: RcOrder = {
    externalId: options.externalId,
    phone: phoneDigits(call.customerPhone ?? ''),
    call: true,
  };
  if (options.orderMethod) order.orderMethod = options.orderMethod;
  const managerId = responsibleId(call, contact);
  if (managerId !== undefined) order.managerId = managerId;
  const customerId = numericId(contact?.id);
  if (customerId !== undefined) order.customer = { id: customerId };
  order.managerComment = `${leadSubject(call)}\n${leadDetails(call, options)}`;
  return order;
}

export interface ModuleUrls {
  publicUrl: string;
  makeCallUrl: string;
  changeUserStatusUrl: string;
}

/** RetailCRM user ids are numbers; agents mapped to anything else cannot be sent. */
export function toAdditionalCodes(agents: AgentMapping[]): { userId: number; code: string }[] {
  const codes: { userId: number; code: string }[] = [];
  for (const agent of agents) {
    const userId = numericId(agent.crmUserId);
    if (userId !== undefined) codes.push({ userId, code: agent.extension });
  }
  return codes;
}

export function toIntegrationModule(
  code: string,
  clientId: string,
  agents: AgentMapping[],
  urls: ModuleUrls,
): RcIntegrationModule {
  const base = urls.publicUrl.replace(/\/+$/, '');
  return {
    code,
    integrationCode: code,
    active: true,
    name: 'Telephony hub',
    logo: `${base}/static/hub.svg`,
    clientId,
    baseUrl: base,
    accountUrl: base,
    integrations: {
      telephony: {
        makeCallUrl: urls.makeCallUrl,
        changeUserStatusUrl: urls.changeUserStatusUrl,
        allowEdit: false,
        inputEventSupported: true,
        outputEventSupported: true,
        hangupEventSupported: true,
        additionalCodes: toAdditionalCodes(agents),
      },
    },
  };
}
