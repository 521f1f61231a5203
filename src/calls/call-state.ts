import type {
  CallDirection,
  CallResult,
  CallStatus,
  EventType,
  NormalizedEvent,
} from './call-event';

export interface CallState {
  direction: CallDirection;
  status: CallStatus;
  result: CallResult | null;
  from: string | null;
  to: string | null;
  /** The agent who has the call now: who answered, or whom it was transferred to. */
  extension: string | null;
  answeredBy: string | null;
  /** Every extension that rang before the call ended, in order. */
  ringing: string[];
  duration: number | null;
  startedAt: Date;
  answeredAt: Date | null;
  endedAt: Date | null;
  recordingUrl: string | null;
  recordingExpected: boolean;
}

const TYPE_ORDER: Record<EventType, number> = {
  'call.started': 0,
  'call.ringing': 1,
  'call.answered': 2,
  'call.transferred': 3,
  'call.ended': 4,
  'call.recording': 5,
};

const STATUS_RANK: Record<CallStatus, number> = { started: 0, ringing: 1, answered: 2, ended: 3 };

function raise(current: CallStatus, next: CallStatus): CallStatus {
  return STATUS_RANK[next] > STATUS_RANK[current] ? next : current;
}

export function compareEvents(a: NormalizedEvent, b: NormalizedEvent): number {
  const ta = Date.parse(a.at);
  const tb = Date.parse(b.at);
  if (ta !== tb) return ta - tb;
  const ra = TYPE_ORDER[a.type] - TYPE_ORDER[b.type];
  if (ra !== 0) return ra;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/**
 * The call as its events describe it. The events are replayed in the order they
 * happened (not the order they arrived), so duplicates and any arrival order give
 * the same call; once ended, nothing reopens it.
 */
export function foldCall(events: readonly NormalizedEvent[]): CallState {
  if (events.length === 0) throw new Error('a call needs at least one event');
  const sorted = [...events].sort(compareEvents);
  const state: CallState = {
    direction: 'inbound',
    status: 'started',
    result: null,
    from: null,
    to: null,
    extension: null,
    answeredBy: null,
    ringing: [],
    duration: null,
    startedAt: new Date(sorted[0].at),
    answeredAt: null,
    endedAt: null,
    recordingUrl: null,
    recordingExpected: false,
  };
  let direction: CallDirection | null = null;
  let owner: string | null = null;
  let transferredTo: string | null = null;

  for (const ev of sorted) {
    const at = new Date(ev.at);
    if (!direction && ev.direction) direction = ev.direction;
    if (state.from === null && ev.from) state.from = ev.from;
    if (state.to === null && ev.to) state.to = ev.to;
    const ended = state.endedAt !== null;

    switch (ev.type) {
      case 'call.started':
        if (!owner && ev.extension) owner = ev.extension;
        break;
      case 'call.ringing':
        if (ended) break;
        if (ev.extension && !state.ringing.includes(ev.extension)) state.ringing.push(ev.extension);
        state.status = raise(state.status, 'ringing');
        break;
      case 'call.answered':
        if (ended || state.answeredAt) break;
        state.answeredAt = at;
        state.answeredBy = ev.extension ?? null;
        state.status = raise(state.status, 'answered');
        break;
      case 'call.transferred':
        if (ended || !ev.extension) break;
        transferredTo = ev.extension;
        if (!state.ringing.includes(ev.extension)) state.ringing.push(ev.extension);
        break;
      case 'call.ended':
        if (ended) break;
        state.endedAt = at;
        state.status = 'ended';
        state.result = ev.result ?? (state.answeredAt ? 'answered' : 'missed');
        if (state.result === 'answered' && !state.answeredBy && ev.extension) {
          state.answeredBy = ev.extension;
        }
        state.duration =
          ev.duration ??
          (state.answeredAt
            ? Math.max(0, Math.round((at.getTime() - state.answeredAt.getTime()) / 1000))
            : 0);
        if (ev.recorded) state.recordingExpected = true;
        if (ev.recordingUrl) state.recordingUrl = ev.recordingUrl;
        break;
      case 'call.recording':
        if (ev.recordingUrl) state.recordingUrl = ev.recordingUrl;
        break;
    }
  }

  state.direction = direction ?? 'inbound';
  state.extension =
    transferredTo ?? state.answeredBy ?? (state.direction !== 'inbound' ? owner : null);
  if (state.recordingUrl) state.recordingExpected = true;
  return state;
}
