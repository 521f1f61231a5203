import { createHash } from 'node:crypto';
import type { CallDirection, CallResult, NormalizedEvent } from '../../calls/call-event';
import { isExtension, normalizeParty, toE164 } from '../../contacts/phone';
import { BadRequestException } from '@nestjs/common';
import type { ZadarmaFields, ZadarmaNotification } from './zadarma.dto';

// Building a DateTimeFormat costs far more than using one; a PBX sends many events per call.
const formats = new Map<string, Intl.DateTimeFormat>();

export function zoneFormat(timeZone: string): Intl.DateTimeFormat {
  let f = formats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
    });
    formats.set(timeZone, f);
  }
  return f;
}

/** Offset of `timeZone` from UTC at the instant `utcMs`, in ms (Moscow: +3 h). */
function zoneOffsetMs(timeZone: string, utcMs: number): number {
  const parts: Record<string, number> = {};
  for (const p of zoneFormat(timeZone).formatToParts(new Date(utcMs))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  const wall = Date.UTC(
    parts.year,
    parts.month - 1,
    parts.day,
    parts.hour % 24,
    parts.minute,
    parts.second,
  );
  return wall - Math.floor(utcMs / 1000) * 1000;
}

/**
 * "2024-05-14 10:15:02" on the wall clock of `timeZone` → UTC ISO. Zadarma sends call_start
 * without an offset, in the account's display time zone (kept as the tenant's time zone).
 * A time that happens twice (DST overlap) is the earlier one; a time skipped by a DST gap is
 * moved forward by the gap, as Temporal's "compatible" disambiguation does.
 */
export function wallClockToUtc(wallClock: string, timeZone: string): string {
  const m = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})$/.exec(wallClock);
  if (!m) throw new BadRequestException('call_start must be a "YYYY-MM-DD HH:MM:SS" time');
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number);
  const local = Date.UTC(y, mo - 1, d, h, mi, s);
  const check = new Date(local);
  if (check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d || h > 23 || mi > 59 || s > 59) {
    throw new BadRequestException('call_start is not a valid date and time');
  }
  // The offsets a day before and after cover both sides of any DST change near this time.
  const day = 86_400_000;
  const candidates = [day, -day].map((shift) => local - zoneOffsetMs(timeZone, local - shift));
  const exact = candidates.filter((t) => t + zoneOffsetMs(timeZone, t) === local);
  const utc = exact.length ? Math.min(...exact) : Math.max(...candidates);
  return new Date(utc).toISOString();
}

/** Zadarma's dispositions (SDK comments, openapi, statistics) → the hub's call results. */
export function dispositionToResult(disposition: string): CallResult {
  switch (disposition.trim().toLowerCase()) {
    case 'answered':
      return 'answered';
    case 'busy':
      return 'busy';
    case 'cancel':
      return 'cancelled';
    case 'no answer':
      return 'missed';
    default:
      // failed, call failed, no money, unallocated number, no limit, no day limit, line limit,
      // "no money, no limit", and any value Zadarma adds later: the call did not connect for a
      // reason on the PBX side. Storing it as failed beats rejecting the whole notification.
      return 'failed';
  }
}

/**
 * A deterministic event id, so a re-delivered notification is a duplicate. Readable when it
 * fits the hub's id rule (128 printable characters), hashed otherwise.
 */
export function eventId(kind: string, pbxCallId: string, ...parts: string[]): string {
  const readable = ['zd', kind, pbxCallId, ...parts].join(':');
  if (/^[\x21-\x7e]{1,128}$/.test(readable)) return readable;
  const digest = createHash('sha256').update(readable, 'utf8').digest('hex').slice(0, 40);
  return `zd:${kind}:${digest}`;
}

export interface MapContext {
  timezone: string;
  defaultCountry: string;
  /** When the hub received the notification: the time of everything but the call start. */
  receivedAt: Date;
}

export interface CallRecordingRef {
  pbxCallId: string;
  callIdWithRec: string;
}

/** What a notification means for the hub. */
export interface MappedNotification {
  events: NormalizedEvent[];
  /** Present for NOTIFY_START and NOTIFY_IVR: the PBX waits for a routing answer. */
  route?: { callId: string; from: string; to?: string };
  /**
   * A recording the REST API can give a link to: on NOTIFY_RECORD, and already on an end
   * notification that says the call was recorded (NOTIFY_RECORD may never come; both yield
   * the same event id, so the second is a duplicate).
   */
  recording?: CallRecordingRef;
}

function outsideNumber(raw: string | undefined, country: string): string | undefined {
  if (!raw) return undefined;
  return toE164(raw, country) ?? undefined;
}

function party(raw: string | undefined, country: string): string | undefined {
  if (!raw) return undefined;
  return normalizeParty(raw, country) ?? undefined;
}

/** The hub stores at most a week per call; no real call lasts longer. */
function seconds(raw: string): number {
  return Math.min(Number(raw), 7 * 86400);
}

/**
 * How far a notification's time may be from the hub's clock. Zadarma sends each notification
 * as it happens; one much older (or newer) is a replay of a captured request, or a tenant
 * time zone that is not the Zadarma account's (its call times would all be wrong anyway).
 */
export const MAX_NOTIFICATION_SKEW_MS = 2 * 3600_000;

/**
 * Why a notification is too far from now to be taken, naming call_start, or null. Its time is
 * `call_start` (the account's wall clock), plus `duration` for the end notifications, which
 * come when the call is over. NOTIFY_RECORD carries no time (and is idempotent anyway).
 */
export function notificationSkewProblem(
  n: ZadarmaNotification,
  ctx: Pick<MapContext, 'timezone' | 'receivedAt'>,
): string | null {
  if (n.event === 'NOTIFY_RECORD') return null;
  const startMs = Date.parse(wallClockToUtc(n.call_start, ctx.timezone));
  const ended = n.event === 'NOTIFY_END' || n.event === 'NOTIFY_OUT_END';
  const atMs = startMs + (ended ? seconds(n.duration) * 1000 : 0);
  const offMs = atMs - ctx.receivedAt.getTime();
  if (Math.abs(offMs) <= MAX_NOTIFICATION_SKEW_MS) return null;
  const hours = (Math.abs(offMs) / 3600_000).toFixed(1);
  return (
    `call_start must be within ${MAX_NOTIFICATION_SKEW_MS / 3600_000} h of the hub's clock` +
    `${ended ? ' (plus duration)' : ''}: "${n.call_start}" in ${ctx.timezone} is ${hours} h ` +
    `${offMs < 0 ? 'in the past' : 'in the future'} (a replayed notification, or the tenant's ` +
    `timezone is not the Zadarma account's)`
  );
}

function digestOf(fields: ZadarmaFields, prefixes: string[]): string {
  const relevant = Object.keys(fields)
    .filter((k) => prefixes.some((p) => k.startsWith(p)))
    .sort()
    .map((k) => `${k}=${String(fields[k])}`)
    .join('&');
  return createHash('sha256').update(relevant, 'utf8').digest('hex').slice(0, 16);
}

/**
 * Turns one verified, validated notification into hub events.
 *
 * Times: every notification of a call repeats the call's `call_start`, so only the start
 * events use it; the others are stamped when received (never before the start), which gives
 * the call real answered/ended times. Ids do not depend on that time, so a re-delivery stays a
 * duplicate. Numbers: the outside party must be a real number; a hidden or malformed caller id
 * is left out rather than losing the call over it.
 */
export function mapNotification(
  n: ZadarmaNotification,
  ctx: MapContext,
  rawFields: ZadarmaFields = {},
): MappedNotification {
  if (n.event === 'NOTIFY_RECORD') {
    return {
      events: [],
      recording: { pbxCallId: n.pbx_call_id, callIdWithRec: n.call_id_with_rec },
    };
  }
  const startedAt = wallClockToUtc(n.call_start, ctx.timezone);
  const seenAt = new Date(Math.max(Date.parse(startedAt), ctx.receivedAt.getTime())).toISOString();
  const country = ctx.defaultCountry;
  const callId = n.pbx_call_id;
  const base = (type: NormalizedEvent['type'], direction: CallDirection, at: string) => ({
    callId,
    type,
    direction,
    at,
  });

  switch (n.event) {
    case 'NOTIFY_START':
    case 'NOTIFY_IVR': {
      const ev: NormalizedEvent = {
        id:
          n.event === 'NOTIFY_START'
            ? eventId('start', callId)
            : eventId('ivr', callId, digestOf(rawFields, ['wait_dtmf', 'ivr_'])),
        ...base('call.started', 'inbound', n.event === 'NOTIFY_START' ? startedAt : seenAt),
      };
      const from = outsideNumber(n.caller_id, country);
      const to = party(n.called_did, country);
      if (from) ev.from = from;
      if (to) ev.to = to;
      const route: MappedNotification['route'] = { callId, from: n.caller_id };
      if (n.called_did) route.to = n.called_did;
      return { events: [ev], route: n.caller_id ? route : undefined };
    }
    case 'NOTIFY_INTERNAL': {
      const ev: NormalizedEvent = {
        id: eventId('internal', callId, n.internal),
        ...base('call.ringing', 'inbound', seenAt),
        extension: n.internal,
      };
      const from = outsideNumber(n.caller_id, country);
      const to = party(n.called_did, country);
      if (from) ev.from = from;
      if (to) ev.to = to;
      return { events: [ev] };
    }
    case 'NOTIFY_INTERNAL_END':
      // "Stopped ringing this extension" has no hub event; the end of the call closes the pops.
      return { events: [] };
    case 'NOTIFY_ANSWER': {
      // A call forwarded to a mobile is answered there: the number names the agent whose it is.
      const by =
        n.internal ??
        (n.destination && isExtension(n.destination)
          ? n.destination
          : outsideNumber(n.destination, country));
      const ev: NormalizedEvent = {
        id: eventId('answer', callId, n.destination),
        ...base('call.answered', 'inbound', seenAt),
      };
      if (by) ev.extension = by;
      const from = outsideNumber(n.caller_id, country);
      if (from) ev.from = from;
      return { events: [ev] };
    }
    case 'NOTIFY_END': {
      const ev: NormalizedEvent = {
        id: eventId('end', callId),
        ...base('call.ended', 'inbound', seenAt),
        result: dispositionToResult(n.disposition),
        duration: seconds(n.duration),
      };
      if (n.internal) ev.extension = n.internal;
      if (n.is_recorded === '1') ev.recorded = true;
      const from = outsideNumber(n.caller_id, country);
      const to = party(n.called_did, country);
      if (from) ev.from = from;
      if (to) ev.to = to;
      return { events: [ev], recording: recordedRef(callId, n.is_recorded, n.call_id_with_rec) };
    }
    case 'NOTIFY_OUT_START':
    case 'NOTIFY_OUT_END': {
      const start = n.event === 'NOTIFY_OUT_START';
      // A call from one extension to another is internal; anything else leaves the PBX.
      const internalCall = isExtension(n.destination);
      const ev: NormalizedEvent = {
        id: eventId(start ? 'out_start' : 'out_end', callId),
        ...base(
          start ? 'call.started' : 'call.ended',
          internalCall ? 'internal' : 'outbound',
          start ? startedAt : seenAt,
        ),
        extension: n.internal,
        from: n.internal,
      };
      const to = internalCall ? n.destination : outsideNumber(n.destination, country);
      if (to) ev.to = to;
      if (n.event === 'NOTIFY_OUT_END') {
        ev.result = dispositionToResult(n.disposition);
        ev.duration = seconds(n.duration);
        if (n.is_recorded === '1') ev.recorded = true;
        return { events: [ev], recording: recordedRef(callId, n.is_recorded, n.call_id_with_rec) };
      }
      return { events: [ev] };
    }
  }
}

function recordedRef(
  pbxCallId: string,
  isRecorded: string | undefined,
  callIdWithRec: string | undefined,
): CallRecordingRef | undefined {
  return isRecorded === '1' && callIdWithRec ? { pbxCallId, callIdWithRec } : undefined;
}

/** The call.recording event for a link fetched after NOTIFY_RECORD. */
export function recordingEvent(ref: CallRecordingRef, url: string, at: Date): NormalizedEvent {
  return {
    id: eventId('record', ref.pbxCallId, ref.callIdWithRec),
    callId: ref.pbxCallId,
    type: 'call.recording',
    at: at.toISOString(),
    recordingUrl: url,
  };
}
