export const EVENT_TYPES = [
  'call.started',
  'call.ringing',
  'call.answered',
  'call.ended',
  'call.recording',
  'call.transferred',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const DIRECTIONS = ['inbound', 'outbound', 'internal'] as const;
export type CallDirection = (typeof DIRECTIONS)[number];

export const RESULTS = ['answered', 'missed', 'busy', 'failed', 'cancelled'] as const;
export type CallResult = (typeof RESULTS)[number];

export type CallStatus = 'started' | 'ringing' | 'answered' | 'ended';

/** An event after validation and normalization, as stored in call_events.payload. */
export interface NormalizedEvent {
  id: string;
  callId: string;
  type: EventType;
  at: string;
  direction?: CallDirection;
  from?: string;
  to?: string;
  extension?: string;
  result?: CallResult;
  duration?: number;
  recordingUrl?: string;
  recorded?: boolean;
}
