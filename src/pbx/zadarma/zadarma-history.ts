import type { NormalizedEvent } from '../../calls/call-event';
import { isExtension, normalizeParty, toE164 } from '../../contacts/phone';
import type { HistoryPeriod } from '../pbx-adapter';
import type { ZadarmaStat } from './zadarma.client';
import {
  dispositionToResult,
  eventId,
  recordingEvent,
  wallClockToUtc,
  zoneFormat,
} from './zadarma.mapper';

/** `YYYY-MM-DD HH:MM:SS` on the account's clock, as the statistics API reads and writes it. */
export function zadarmaWallClock(d: Date, timeZone: string): string {
  const parts = zoneFormat(timeZone).formatToParts(d);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '00';
  return `${get('year')}-${get('month')}-${get('day')} ${get('hour')}:${get('minute')}:${get('second')}`;
}

const text = (v: unknown): string | undefined =>
  v === undefined || v === null || v === '' ? undefined : String(v);

/**
 * One call of Zadarma's statistics as the events its notifications would have made, with the
 * same event ids where there is one (a call the hub half-heard gets the rest, not a copy).
 * `recordingUrl` gives the stored reference of a recording (fetched from the API when played).
 */
export function statToEvents(
  stat: ZadarmaStat,
  direction: 'inbound' | 'outbound',
  period: Pick<HistoryPeriod, 'timezone' | 'defaultCountry'>,
  recordingUrl: (ref: { pbxCallId: string; callIdWithRec: string }) => string,
): NormalizedEvent[] {
  const callId = stat.pbx_call_id;
  const country = period.defaultCountry;
  const startedAt = wallClockToUtc(stat.callstart, period.timezone);
  const seconds = Math.max(0, Math.round(Number(stat.seconds ?? 0)) || 0);
  const result = dispositionToResult(String(stat.disposition ?? ''));
  const sip = text(stat.sip);
  const extension = sip && isExtension(sip) ? sip : undefined;
  const destination = text(stat.destination);
  const sides: Partial<NormalizedEvent> = { direction };
  if (direction === 'inbound') {
    const from = stat.clid ? toE164(stat.clid, country) : null;
    const to = destination ? normalizeParty(destination, country) : null;
    if (from) sides.from = from;
    if (to) sides.to = to;
  } else {
    if (extension) sides.from = extension;
    const to = destination ? normalizeParty(destination, country) : null;
    if (to) sides.to = to;
  }
  const base = { callId, ...sides };
  const events: NormalizedEvent[] = [
    {
      ...base,
      id: eventId(direction === 'inbound' ? 'start' : 'out_start', callId),
      type: 'call.started',
      at: startedAt,
      ...(direction === 'outbound' && extension ? { extension } : {}),
    },
  ];
  if (direction === 'inbound' && extension) {
    events.push({
      ...base,
      id: eventId('internal', callId, extension),
      type: 'call.ringing',
      at: startedAt,
      extension,
    });
  }
  const talkS = result === 'answered' ? seconds : 0;
  const endedAt = new Date(Date.parse(startedAt) + talkS * 1000);
  if (result === 'answered') {
    events.push({
      ...base,
      id: eventId('answer', callId, extension ?? ''),
      type: 'call.answered',
      at: startedAt,
      ...(extension ? { extension } : {}),
    });
  }
  events.push({
    ...base,
    id: eventId(direction === 'inbound' ? 'end' : 'out_end', callId),
    type: 'call.ended',
    at: endedAt.toISOString(),
    result,
    duration: talkS,
    ...(extension ? { extension } : {}),
  });
  const recorded =
    stat.is_recorded === true || String(stat.is_recorded) === '1' || stat.is_recorded === 'true';
  const callIdWithRec = text(stat.call_id);
  if (recorded && callIdWithRec) {
    const ref = { pbxCallId: callId, callIdWithRec };
    events.push(recordingEvent(ref, recordingUrl(ref), endedAt));
  }
  return events;
}
