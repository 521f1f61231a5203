import type { CallDirection, CallResult, NormalizedEvent } from '../../calls/call-event';
import { normalizeParty, toE164 } from '../../contacts/phone';
import type { VatsApiHistoryEntry } from './vats.client';
import type { VatsContactDto, VatsEventDto } from './vats.dto';

export interface VatsMapContext {
  defaultCountry: string;
  receivedAt: Date;
}

/** A finished call as the PBX reports it: a `history` post, or an entry of its history API. */
export interface VatsCallRecord {
  callid: string;
  type: 'in' | 'out';
  status: string;
  phone?: string;
  diversion?: string;
  user?: string;
  ext?: string;
  start: Date;
  /** Seconds the caller waited before the answer, when known (the history API has it). */
  waitS?: number;
  duration: number;
  link?: string;
}

const INBOUND_RESULTS: Record<string, CallResult> = {
  success: 'answered',
  busy: 'busy',
  notallowed: 'failed',
  notfound: 'failed',
};
const OUTBOUND_RESULTS: Record<string, CallResult> = {
  success: 'answered',
  busy: 'busy',
  cancel: 'cancelled',
  missed: 'missed',
  notavailable: 'missed',
  noanswer: 'missed',
};

/** An inbound call nobody took is missed whatever the PBX calls it: someone must call back. */
export function resultOf(type: 'in' | 'out', status: string): CallResult {
  const key = status.toLowerCase();
  return type === 'in' ? (INBOUND_RESULTS[key] ?? 'missed') : (OUTBOUND_RESULTS[key] ?? 'failed');
}

/** `20240514T071502Z` → a Date. */
export function parsePostTime(raw: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(raw);
  if (!m) throw new Error('start must be a UTC time as YYYYMMDDThhmmssZ');
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}

/** The employee as the hub knows them: the extension, else the PBX login. */
function employee(p: { ext?: string; user?: string }): string | undefined {
  return p.ext || p.user || undefined;
}

function parties(
  type: 'in' | 'out',
  p: { phone?: string; diversion?: string; ext?: string; user?: string },
  country: string,
): Pick<NormalizedEvent, 'direction' | 'from' | 'to'> {
  const outside = p.phone ? (toE164(p.phone, country) ?? undefined) : undefined;
  const line = p.diversion ? (normalizeParty(p.diversion, country) ?? undefined) : undefined;
  const direction: CallDirection = type === 'in' ? 'inbound' : 'outbound';
  const out: Pick<NormalizedEvent, 'direction' | 'from' | 'to'> = { direction };
  const agent = employee(p);
  if (type === 'in') {
    if (outside) out.from = outside;
    if (line) out.to = line;
  } else {
    if (agent) out.from = agent;
    if (outside) out.to = outside;
  }
  return out;
}

function at(d: Date): string {
  return d.toISOString();
}

/** `cmd=contact` opens the call, before the PBX routes it. */
export function contactEvents(post: VatsContactDto, ctx: VatsMapContext): NormalizedEvent[] {
  return [
    {
      id: `vats:${post.callid}:started`,
      callId: post.callid,
      type: 'call.started',
      at: at(ctx.receivedAt),
      ...parties('in', post, ctx.defaultCountry),
    },
  ];
}

/**
 * `cmd=event`: INCOMING rings an employee (the card pops), ACCEPTED answers, OUTGOING starts an
 * outbound call, TRANSFERRED hands the call to the employee it names. COMPLETED and CANCELLED
 * say the call left one employee; its end and result come with `history`.
 */
export function eventEvents(post: VatsEventDto, ctx: VatsMapContext): NormalizedEvent[] {
  const ext = employee(post);
  const type = post.direction === 'out' || post.type === 'OUTGOING' ? 'out' : 'in';
  const base = {
    callId: post.callid,
    at: at(ctx.receivedAt),
    ...parties(type, post, ctx.defaultCountry),
  };
  switch (post.type) {
    case 'INCOMING':
      return ext
        ? [
            {
              ...base,
              id: `vats:${post.callid}:ringing:${ext}`,
              type: 'call.ringing',
              extension: ext,
            },
          ]
        : [];
    case 'ACCEPTED':
      return ext
        ? [
            {
              ...base,
              id: `vats:${post.callid}:answered:${ext}`,
              type: 'call.answered',
              extension: ext,
            },
          ]
        : [];
    case 'TRANSFERRED':
      return ext
        ? [
            {
              ...base,
              id: `vats:${post.callid}:transferred:${ext}`,
              type: 'call.transferred',
              extension: ext,
            },
          ]
        : [];
    case 'OUTGOING':
      return [
        {
          ...base,
          id: `vats:${post.callid}:started`,
          type: 'call.started',
          ...(ext ? { extension: ext } : {}),
        },
      ];
    default:
      return [];
  }
}

/**
 * A finished call: its start (at the PBX's start time) and its end with result, talk time,
 * the employee who had it last and the recording link. `complete` adds what live events would
 * have said (who rang and answered, and when) for a call the hub never heard of (backfill).
 */
export function recordEvents(
  record: VatsCallRecord,
  ctx: VatsMapContext,
  complete = false,
): NormalizedEvent[] {
  const { callid } = record;
  const ext = employee(record);
  const sides = parties(record.type, record, ctx.defaultCountry);
  const result = resultOf(record.type, record.status);
  const wait = record.waitS ?? 0;
  const answeredAt = new Date(record.start.getTime() + wait * 1000);
  const endedAt = complete
    ? new Date(answeredAt.getTime() + (result === 'answered' ? record.duration * 1000 : 0))
    : ctx.receivedAt;
  const events: NormalizedEvent[] = [
    {
      id: `vats:${callid}:started`,
      callId: callid,
      type: 'call.started',
      at: at(record.start),
      ...sides,
      ...(record.type === 'out' && ext ? { extension: ext } : {}),
    },
  ];
  if (complete && ext && record.type === 'in') {
    events.push({
      id: `vats:${callid}:ringing:${ext}`,
      callId: callid,
      type: 'call.ringing',
      at: at(record.start),
      ...sides,
      extension: ext,
    });
  }
  if (complete && result === 'answered') {
    events.push({
      id: `vats:${callid}:answered:${ext ?? ''}`,
      callId: callid,
      type: 'call.answered',
      at: at(answeredAt),
      ...sides,
      ...(ext ? { extension: ext } : {}),
    });
  }
  const ended: NormalizedEvent = {
    id: `vats:${callid}:ended`,
    callId: callid,
    type: 'call.ended',
    at: at(endedAt < record.start ? record.start : endedAt),
    ...sides,
    result,
    duration: result === 'answered' ? record.duration : 0,
  };
  if (ext) ended.extension = ext;
  if (record.link) ended.recordingUrl = record.link;
  events.push(ended);
  return events;
}

const seconds = (v: unknown): number => {
  const n = Math.round(Number(v ?? 0));
  return Number.isFinite(n) && n > 0 ? Math.min(n, 7 * 86400) : 0;
};

/** An entry of the REST history (`GET /history/json`) as a call record, or null if unusable. */
export function historyRecord(
  entry: VatsApiHistoryEntry,
  extensionOf: ReadonlyMap<string, string>,
): VatsCallRecord | null {
  const start = new Date(entry.start);
  const type = entry.type === 'out' ? 'out' : entry.type === 'in' ? 'in' : null;
  if (!type || Number.isNaN(start.getTime()) || !/^[\x21-\x7e]{1,72}$/.test(entry.uid)) return null;
  const user = typeof entry.user === 'string' && entry.user ? entry.user : undefined;
  const ext = user ? (extensionOf.get(user) ?? user) : undefined;
  const link =
    typeof entry.record === 'string' && /^https?:\/\//.test(entry.record)
      ? entry.record
      : undefined;
  return {
    callid: entry.uid,
    type,
    status: String(entry.status ?? ''),
    phone: entry.client,
    diversion: entry.diversion,
    ext: ext && /^[A-Za-z0-9*#._@+-]{1,32}$/.test(ext) ? ext : undefined,
    start,
    waitS: seconds(entry.wait),
    duration: seconds(entry.duration),
    link: link && link.length <= 2048 ? link : undefined,
  };
}
