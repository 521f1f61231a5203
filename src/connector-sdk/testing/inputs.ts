import type {
  CallActionInput,
  CallInfo,
  ContactMatch,
  LeadInput,
  LogInput,
  PopInput,
  PopTarget,
} from '../types';

/**
 * A finished inbound call as the hub hands it to a connector: a client calls the line,
 * 101 and 102 ring, 101 talks 95 s. Override what a test is about.
 */
export function sampleCall(overrides: Partial<CallInfo> = {}): CallInfo {
  const startedAt = overrides.startedAt ?? new Date('2026-11-25T10:00:00Z');
  const at = (s: number) => new Date(startedAt.getTime() + s * 1000);
  return {
    callId: 'c-42',
    direction: 'inbound',
    customerPhone: '+79161234567',
    line: '+74957654321',
    extension: '101',
    crmUserId: null,
    ringing: ['101', '102'],
    status: 'ended',
    result: 'answered',
    startedAt,
    answeredAt: at(7),
    endedAt: at(102),
    duration: 95,
    recordingUrl: null,
    ...overrides,
  };
}

/** The inputs of each action, with the idempotency key the hub gives it. */
export const popInput = (call: CallInfo, target: PopTarget): PopInput => ({
  call,
  target,
  idempotencyKey: `${call.callId}:pop`,
});

export const logInput = (calls: CallInfo[]): LogInput => ({
  items: calls.map((call) => ({ call, idempotencyKey: `${call.callId}:log` })),
});

export const leadInput = (call: CallInfo, contact: ContactMatch | null): LeadInput => ({
  call,
  contact,
  idempotencyKey: `${call.callId}:lead`,
});

export const actionInput = (call: CallInfo, action: string): CallActionInput => ({
  call,
  idempotencyKey: `${call.callId}:${action}`,
});
