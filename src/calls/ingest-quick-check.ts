import { isISO8601 } from 'class-validator';
import { eventTimeProblem } from '../common/validators';
import { DIRECTIONS, EVENT_TYPES, RESULTS } from './call-event';
import {
  EVENT_ID_FORMAT,
  EXTENSION_FORMAT,
  IngestEventDto,
  MAX_BATCH,
  MAX_CALL_DURATION_S,
  TIME_ZONE_SUFFIX,
} from './ingest.dto';

/** The fields the quick check knows; any other field (recordingUrl too) goes to the DTO check. */
const QUICK_FIELDS = new Set([
  'id',
  'callId',
  'type',
  'direction',
  'from',
  'to',
  'extension',
  'at',
  'result',
  'duration',
  'recorded',
]);

const isPlain = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype;

const isParty = (v: unknown): boolean =>
  v === undefined || (typeof v === 'string' && v.length >= 1 && v.length <= 64);

/**
 * One event, checked without class-validator: true only when IngestEventDto takes it as it is.
 * A doubtful value (null, an unknown field, a recording URL, anything wrong) answers false and
 * the caller runs the DTO's own check, which names the problem; so the errors stay the DTO's.
 */
function plainEvent(ev: unknown): boolean {
  if (!isPlain(ev)) return false;
  for (const k of Object.keys(ev)) if (!QUICK_FIELDS.has(k) || ev[k] === null) return false;
  const { id, callId, type, direction, from, to, extension, at, result, duration, recorded } = ev;
  if (typeof id !== 'string' || !EVENT_ID_FORMAT.test(id)) return false;
  if (typeof callId !== 'string' || !EVENT_ID_FORMAT.test(callId)) return false;
  // A recording event needs its URL, which is left to the DTO check.
  if (type === 'call.recording' || !(EVENT_TYPES as readonly unknown[]).includes(type))
    return false;
  if (direction !== undefined && !(DIRECTIONS as readonly unknown[]).includes(direction))
    return false;
  if (!isParty(from) || !isParty(to)) return false;
  if (extension === undefined) {
    if (type === 'call.transferred') return false;
  } else if (typeof extension !== 'string' || !EXTENSION_FORMAT.test(extension)) return false;
  if (typeof at !== 'string' || !isISO8601(at, { strict: true }) || !TIME_ZONE_SUFFIX.test(at))
    return false;
  if (eventTimeProblem(at, Date.now()) !== null) return false;
  if (
    (result !== undefined || type === 'call.ended') &&
    !(RESULTS as readonly unknown[]).includes(result)
  )
    return false;
  if (
    duration !== undefined &&
    !(
      Number.isInteger(duration) &&
      (duration as number) >= 0 &&
      (duration as number) <= MAX_CALL_DURATION_S
    )
  )
    return false;
  return recorded === undefined || typeof recorded === 'boolean';
}

/**
 * The events of a valid post, or null when the post needs the DTO check (it may still be valid).
 * A PBX posts the same few fields thousands of times a second; class-validator's metadata walk
 * cost more than the rest of the request's own work.
 */
export function quickEvents(body: unknown): IngestEventDto[] | null {
  if (!isPlain(body)) return null;
  if (!('events' in body)) return plainEvent(body) ? [body as unknown as IngestEventDto] : null;
  const { events } = body;
  if (Object.keys(body).length !== 1 || !Array.isArray(events)) return null;
  if (events.length < 1 || events.length > MAX_BATCH) return null;
  for (const ev of events) if (!plainEvent(ev)) return null;
  return events as IngestEventDto[];
}
