export interface InboundCallOptions {
  /** Extensions that ring (default 101). */
  ring?: string[];
  /** The extension that answers; none: the call is missed. */
  answeredBy?: string;
  recording?: string;
  /** When the call starts (default two minutes ago). */
  startedAt?: number;
}

/**
 * The events of one inbound call as a generic PBX sends them: `start` (started and ringing)
 * and `end` (answered, if it was, and ended: 60 s of talk, or missed).
 */
export function inboundCall(
  callId: string,
  from: string,
  opts: InboundCallOptions = {},
): { start: Record<string, unknown>[]; end: Record<string, unknown>[] } {
  const base = opts.startedAt ?? Date.now() - 120_000;
  const at = (s: number) => new Date(base + s * 1000).toISOString();
  const start: Record<string, unknown>[] = [
    {
      id: `${callId}-s`,
      callId,
      type: 'call.started',
      direction: 'inbound',
      from,
      to: '+74957654321',
      at: at(0),
    },
    ...(opts.ring ?? ['101']).map((extension, i) => ({
      id: `${callId}-r${i}`,
      callId,
      type: 'call.ringing',
      extension,
      at: at(1),
    })),
  ];
  const end: Record<string, unknown>[] = [];
  if (opts.answeredBy) {
    end.push({
      id: `${callId}-a`,
      callId,
      type: 'call.answered',
      extension: opts.answeredBy,
      at: at(10),
    });
  }
  end.push({
    id: `${callId}-e`,
    callId,
    type: 'call.ended',
    at: at(70),
    ...(opts.answeredBy ? { result: 'answered', duration: 60 } : { result: 'missed', duration: 0 }),
    ...(opts.recording ? { recordingUrl: opts.recording } : {}),
  });
  return { start, end };
}
