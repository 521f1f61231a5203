import type { CallInfo, ContactMatch, CrmUser, ResponsibleUser } from '../../src/connector-sdk';
import type { B24Entity, B24User } from './bitrix24.client';

/** register's TYPE: 1 outgoing, 2 incoming. */
export const CALL_TYPE = { outbound: 1, inbound: 2 } as const;

/** Workday states that mean the manager is at work, or that the portal does not track it. */
const ON_SHIFT = new Set(['OPENED', 'NOT_INSTALLED', 'UNAVAILABLE', '']);

/** Digits only: how Bitrix24 takes numbers and lines. */
export function digits(phone: string | null | undefined): string {
  return (phone ?? '').replace(/\D/g, '');
}

/** A positive integer id, or undefined. */
export function userIdOf(id: unknown): number | undefined {
  const n = Number(id);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/**
 * finish's STATUS_CODE. A call the caller gave up on before anyone answered is a missed call
 * to the company (304); an outgoing one the agent dropped is "cancelled" (603-S). Without an
 * explicit 200 Bitrix24 shows a call with no duration as missed.
 */
export function statusCode(call: CallInfo): string {
  switch (call.result) {
    case 'answered':
      return '200';
    case 'busy':
      return '486';
    case 'cancelled':
      return call.direction === 'outbound' ? '603-S' : '304';
    case 'failed':
      return '503';
    default:
      return '304';
  }
}

/** The CRM card's address in the portal. */
export function entityUrl(portalUrl: string, type: string, id: string): string {
  const kind = type.toLowerCase();
  const path = ['contact', 'company', 'lead'].includes(kind) ? kind : 'contact';
  return `${portalUrl.replace(/\/+$/, '')}/crm/${path}/details/${id}/`;
}

/** The first entity searchCrmEntities found (they come in priority order). */
export function toContact(
  entity: B24Entity,
  portalUrl: string,
  onShiftOnly: boolean,
): ContactMatch {
  const id = String(entity.CRM_ENTITY_ID);
  return {
    id,
    ...(entity.NAME ? { name: entity.NAME } : {}),
    url: entityUrl(portalUrl, String(entity.CRM_ENTITY_TYPE), id),
    responsible: toResponsible(entity, onShiftOnly),
  };
}

export function toResponsible(entity: B24Entity, onShiftOnly: boolean): ResponsibleUser | null {
  const id = userIdOf(entity.ASSIGNED_BY_ID ?? entity.ASSIGNED_BY?.ID);
  if (!id) return null;
  const inner = (entity.ASSIGNED_BY?.USER_PHONE_INNER ?? '').trim();
  const out: ResponsibleUser = { crmUserId: String(id) };
  if (inner) out.extension = inner;
  if (onShiftOnly) {
    out.onShift = ON_SHIFT.has((entity.ASSIGNED_BY?.TIMEMAN_STATUS ?? '').toUpperCase());
  }
  return out;
}

export function toCrmUser(u: B24User): CrmUser {
  const name = [u.NAME, u.LAST_NAME].filter(Boolean).join(' ').trim();
  const out: CrmUser = { crmUserId: String(u.ID), name: name || u.EMAIL || String(u.ID) };
  if (u.EMAIL) out.email = u.EMAIL;
  const inner = (u.UF_PHONE_INNER ?? '').trim();
  if (inner) out.extension = inner;
  const mobile = (u.PERSONAL_MOBILE ?? '').trim();
  if (mobile) out.mobile = mobile;
  return out;
}

/** Start time as Bitrix24 reads it: ISO 8601 with an offset. */
export function startDate(call: CallInfo): string {
  return call.startedAt.toISOString().replace(/\.\d{3}Z$/, '+00:00');
}

/** Talk time in whole seconds: answered calls only. */
export function talkSeconds(call: CallInfo): number {
  return call.result === 'answered' ? Math.max(0, Math.round(call.duration ?? 0)) : 0;
}
