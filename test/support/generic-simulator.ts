import type { CallDirection, CallResult, NormalizedEvent } from '../../src/calls/call-event';

/**
 * Scripted calls as a PBX reports them to `POST /v1/pbx/:tenantId/events`: tests, the demo and
 * load scripts play the same realistic sequences instead of hand-writing event lists.
 *
 * Events are the wire shape (before the hub normalizes them): numbers as the PBX has them
 * ("89161234567", "+74957654321"), extensions as they are, and local times with the PBX's
 * UTC offset. Ids are derived from the call id and the event's position, so a script built
 * twice yields the same ids and re-sending it is a pure duplicate for the hub.
 */

/** One event as a PBX POSTs it (the IngestEventDto shape: numbers as dialled, not normalized). */
export type HubEvent = NormalizedEvent;

export interface ScriptStep {
  /** Wait before this step, since the previous one, in real time (the gap between their `at`s). */
  delayMs: number;
  /** What happens in this step, for people: "101, 102 and 103 ring". */
  label: string;
  /** Sent together, as one batch. */
  events: HubEvent[];
}

export interface CallOptions {
  callId: string;
  /** When the call starts; a fixed instant by default so scripts are reproducible. */
  startAt?: Date | string;
  /** The PBX's clock offset from UTC in minutes (Moscow, +180, by default). */
  utcOffsetMin?: number;
}

export interface InboundOptions extends CallOptions {
  /** The caller, as the PBX shows it: often national with the trunk prefix. */
  from?: string;
  /** The company line dialled. */
  to?: string;
}

export const DEFAULT_START = '2026-11-25T10:00:00.000Z';
export const DEFAULT_CALLER = '89161234567';
export const DEFAULT_LINE = '+74957654321';
export const DEFAULT_CUSTOMER = '8 (916) 123-45-67';

/** Seconds between the call start and the PBX's first ringing report. */
const RING_AFTER_S = 0.4;
/** What the hub accepts as an event id (ingest.dto.ts); a longer call id cannot make one. */
const MAX_CALL_ID = 100;

type Body = Omit<HubEvent, 'id' | 'callId' | 'at' | 'direction' | 'from' | 'to'>;

/** ISO 8601 in the PBX's local time with its offset, e.g. 2026-11-25T13:00:00.000+03:00. */
export function localIso(instant: number, offsetMin: number): string {
  const shifted = new Date(instant + offsetMin * 60_000).toISOString().slice(0, -1);
  if (offsetMin === 0) return `${shifted}Z`;
  const abs = Math.abs(offsetMin);
  const hh = String(Math.floor(abs / 60)).padStart(2, '0');
  const mm = String(abs % 60).padStart(2, '0');
  return `${shifted}${offsetMin < 0 ? '-' : '+'}${hh}:${mm}`;
}

/** Accumulates the steps of one call; times are seconds since the call started. */
class ScriptBuilder {
  private readonly steps: ScriptStep[] = [];
  private readonly start: number;
  private readonly offset: number;
  private seq = 0;
  /** Seconds into the call of the last step. */
  lastS = 0;

  constructor(
    private readonly callId: string,
    readonly party: { direction: CallDirection; from: string; to: string },
    options: CallOptions,
  ) {
    if (!/^[\x21-\x7e]+$/.test(callId) || callId.length > MAX_CALL_ID) {
      throw new Error(`callId must be 1-${MAX_CALL_ID} printable ASCII characters without spaces`);
    }
    this.start = new Date(options.startAt ?? DEFAULT_START).getTime();
    if (Number.isNaN(this.start)) throw new Error(`startAt is not a date: ${options.startAt}`);
    this.offset = options.utcOffsetMin ?? 180;
  }

  /**
   * Adds a step at `s` seconds into the call. Lifecycle events repeat direction and parties
   * (each webhook of a real PBX stands alone, so a lost first event still leaves a whole call);
   * a recording notice comes from the recording pipeline and carries only the link.
   */
  step(s: number, label: string, bodies: Body[]): this {
    if (s < this.lastS) throw new Error(`step "${label}" at ${s}s goes back in time`);
    const at = localIso(this.start + Math.round(s * 1000), this.offset);
    const events = bodies.map((body): HubEvent => {
      this.seq += 1;
      const id = `${this.callId}-${String(this.seq).padStart(2, '0')}-${body.type.slice(5)}`;
      const parties = body.type === 'call.recording' ? {} : this.party;
      return { id, callId: this.callId, at, ...parties, ...body };
    });
    const delayMs = this.steps.length === 0 ? 0 : Math.round((s - this.lastS) * 1000);
    this.steps.push({ delayMs, label, events });
    this.lastS = s;
    return this;
  }

  build(): ScriptStep[] {
    return this.steps;
  }
}

const list = (exts: readonly string[]): string =>
  exts.length <= 1 ? (exts[0] ?? '') : `${exts.slice(0, -1).join(', ')} and ${exts.at(-1)}`;

function inbound(o: InboundOptions): ScriptBuilder {
  return new ScriptBuilder(
    o.callId,
    { direction: 'inbound', from: o.from ?? DEFAULT_CALLER, to: o.to ?? DEFAULT_LINE },
    o,
  );
}

export interface AnsweredOptions extends InboundOptions {
  extension?: string;
  ringS?: number;
  talkS?: number;
  /** Sent on call.ended, as a PBX that has the file at hangup does. */
  recordingUrl?: string;
}

/** The answered inbound call, up to and including its end (which `end` may extend). */
function answered(o: AnsweredOptions, end: Partial<Body>, endLabel = ''): ScriptBuilder {
  const ext = o.extension ?? '101';
  const ringS = o.ringS ?? 6;
  const talkS = o.talkS ?? 95;
  const b = inbound(o);
  b.step(0, `call from ${b.party.from} to ${b.party.to}`, [{ type: 'call.started' }]);
  b.step(RING_AFTER_S, `${ext} rings`, [{ type: 'call.ringing', extension: ext }]);
  b.step(RING_AFTER_S + ringS, `${ext} answers`, [{ type: 'call.answered', extension: ext }]);
  b.step(RING_AFTER_S + ringS + talkS, `hangup after ${talkS} s${endLabel}`, [
    { type: 'call.ended', result: 'answered', duration: talkS, extension: ext, ...end },
  ]);
  return b;
}

/** An inbound call: one extension rings and answers; the caller hangs up after talking. */
export function answeredCall(o: AnsweredOptions): ScriptStep[] {
  return answered(o, o.recordingUrl ? { recordingUrl: o.recordingUrl } : {}).build();
}

export interface MissedOptions extends InboundOptions {
  /** Everyone who rang (several for a group nobody picks up). */
  extensions?: string[];
  ringS?: number;
  /** How the PBX reports it: the caller gave up (`missed`/`cancelled`) or every line was busy. */
  result?: Extract<CallResult, 'missed' | 'cancelled' | 'busy'>;
}

/** An inbound call nobody answers; the caller gives up. */
export function missedCall(o: MissedOptions): ScriptStep[] {
  const exts = o.extensions ?? ['101'];
  const ringS = o.ringS ?? 25;
  const b = inbound(o);
  b.step(0, `call from ${b.party.from} to ${b.party.to}`, [{ type: 'call.started' }]);
  b.step(
    RING_AFTER_S,
    `${list(exts)} ring`,
    exts.map((extension) => ({ type: 'call.ringing', extension })),
  );
  b.step(RING_AFTER_S + ringS, `nobody answers; the caller hangs up after ${ringS} s`, [
    { type: 'call.ended', result: o.result ?? 'missed', duration: 0 },
  ]);
  return b.build();
}

export interface RingAllOptions extends InboundOptions {
  extensions?: string[];
  answeredBy?: string;
  ringS?: number;
  talkS?: number;
  /** Sent on call.ended, as a PBX that has the file at hangup does. */
  recordingUrl?: string;
}

/** A ring-all group: every extension rings at once, one answers, the others stop. */
export function ringAllCall(o: RingAllOptions): ScriptStep[] {
  const exts = o.extensions ?? ['101', '102', '103'];
  const by = o.answeredBy ?? exts[1] ?? exts[0];
  if (!exts.includes(by)) throw new Error(`answeredBy ${by} is not in the group ${exts}`);
  const ringS = o.ringS ?? 7;
  const talkS = o.talkS ?? 64;
  const b = inbound(o);
  b.step(0, `call from ${b.party.from} to ${b.party.to}`, [{ type: 'call.started' }]);
  b.step(
    RING_AFTER_S,
    `${list(exts)} ring at once`,
    exts.map((extension) => ({ type: 'call.ringing', extension })),
  );
  b.step(RING_AFTER_S + ringS, `${by} answers`, [{ type: 'call.answered', extension: by }]);
  b.step(RING_AFTER_S + ringS + talkS, `hangup after ${talkS} s`, [
    {
      type: 'call.ended',
      result: 'answered',
      duration: talkS,
      extension: by,
      ...(o.recordingUrl ? { recordingUrl: o.recordingUrl } : {}),
    },
  ]);
  return b.build();
}

export interface QueueOptions extends InboundOptions {
  /** In the order the queue tries them. */
  agents?: string[];
  /** Who picks up; the agents after them never ring. */
  answeredBy?: string;
  /** The queue's greeting before the first agent rings. */
  holdS?: number;
  /** How long each agent rings before the queue moves on. */
  ringEachS?: number;
  talkS?: number;
}

/** A queue: agents ring one after another until one answers. */
export function queueCall(o: QueueOptions): ScriptStep[] {
  const agents = o.agents ?? ['101', '102', '103'];
  const by = o.answeredBy ?? agents[agents.length - 1];
  const index = agents.indexOf(by);
  if (index < 0) throw new Error(`answeredBy ${by} is not among the agents ${agents}`);
  const holdS = o.holdS ?? 12;
  const ringEachS = o.ringEachS ?? 15;
  const talkS = o.talkS ?? 80;
  const b = inbound(o);
  b.step(0, `call from ${b.party.from} to ${b.party.to} enters the queue`, [
    { type: 'call.started' },
  ]);
  agents.slice(0, index + 1).forEach((extension, i) => {
    const label = i === 0 ? `${extension} rings` : `no answer; ${extension} rings`;
    b.step(holdS + i * ringEachS, label, [{ type: 'call.ringing', extension }]);
  });
  const answeredS = holdS + index * ringEachS + 5;
  b.step(answeredS, `${by} answers`, [{ type: 'call.answered', extension: by }]);
  b.step(answeredS + talkS, `hangup after ${talkS} s`, [
    { type: 'call.ended', result: 'answered', duration: talkS, extension: by },
  ]);
  return b.build();
}

export interface TransferOptions extends InboundOptions {
  /** Who answers first. */
  extension?: string;
  /** Whom they transfer the caller to. */
  transferTo?: string;
  ringS?: number;
  talkBeforeS?: number;
  talkAfterS?: number;
}

/** A blind transfer: A answers, hands the caller to B without consulting, B finishes the call. */
export function blindTransferCall(o: TransferOptions): ScriptStep[] {
  const a = o.extension ?? '101';
  const target = o.transferTo ?? '102';
  const ringS = o.ringS ?? 5;
  const before = o.talkBeforeS ?? 30;
  const after = o.talkAfterS ?? 90;
  const b = inbound(o);
  b.step(0, `call from ${b.party.from} to ${b.party.to}`, [{ type: 'call.started' }]);
  b.step(RING_AFTER_S, `${a} rings`, [{ type: 'call.ringing', extension: a }]);
  const answeredS = RING_AFTER_S + ringS;
  b.step(answeredS, `${a} answers`, [{ type: 'call.answered', extension: a }]);
  b.step(answeredS + before, `${a} transfers the caller to ${target}`, [
    { type: 'call.transferred', extension: target },
  ]);
  // The PBX reports talk time of the whole call, both agents included.
  b.step(answeredS + before + after, `hangup after ${before + after} s`, [
    { type: 'call.ended', result: 'answered', duration: before + after, extension: target },
  ]);
  return b.build();
}

export interface OutboundOptions extends CallOptions {
  /** The agent placing the call. */
  extension?: string;
  /** The customer, as the agent dialled it. */
  to?: string;
  /** What the PBX reports as the calling party; the agent's extension by default. */
  from?: string;
  dialS?: number;
  talkS?: number;
  /** `answered`, or how the customer's side failed. */
  result?: Extract<CallResult, 'answered' | 'missed' | 'busy' | 'failed'>;
}

/** An agent calls a customer; the customer's phone rings and is answered (or not). */
export function outboundCall(o: OutboundOptions): ScriptStep[] {
  const ext = o.extension ?? '101';
  const to = o.to ?? DEFAULT_CUSTOMER;
  const dialS = o.dialS ?? 9;
  const talkS = o.talkS ?? 42;
  const result = o.result ?? 'answered';
  const b = new ScriptBuilder(o.callId, { direction: 'outbound', from: o.from ?? ext, to }, o);
  b.step(0, `${ext} dials ${to}`, [{ type: 'call.started', extension: ext }]);
  // Ringing of an outbound call is the customer's phone, so it names no extension.
  b.step(1, `${to} rings`, [{ type: 'call.ringing' }]);
  if (result === 'answered') {
    b.step(1 + dialS, 'the customer answers', [{ type: 'call.answered', extension: ext }]);
    b.step(1 + dialS + talkS, `hangup after ${talkS} s`, [
      { type: 'call.ended', result, duration: talkS, extension: ext },
    ]);
  } else {
    b.step(1 + dialS, `the customer does not pick up (${result})`, [
      { type: 'call.ended', result, duration: 0, extension: ext },
    ]);
  }
  return b.build();
}

export interface RecordedOptions extends Omit<AnsweredOptions, 'recordingUrl'> {
  recordingUrl?: string;
  /** How long after hangup the PBX has the file ready. */
  recordingAfterS?: number;
}

/**
 * An answered call whose recording is ready only after hangup: the end announces it
 * (`recorded: true`), a `call.recording` event brings the link a few seconds later.
 */
export function recordedCall(o: RecordedOptions): ScriptStep[] {
  const url = o.recordingUrl ?? `https://pbx.example.com/recordings/${o.callId}.mp3`;
  const b = answered(o, { recorded: true }, ', recording announced');
  b.step(b.lastS + (o.recordingAfterS ?? 4), 'the recording is ready', [
    { type: 'call.recording', recordingUrl: url },
  ]);
  return b.build();
}

/** Every event of a script, in the order it is sent. */
export function allEvents(steps: readonly ScriptStep[]): HubEvent[] {
  return steps.flatMap((s) => s.events);
}

/** Real time the script takes when played at speed 1. */
export function scriptDurationMs(steps: readonly ScriptStep[]): number {
  return steps.reduce((sum, s) => sum + s.delayMs, 0);
}

export type SendEvents = (events: HubEvent[]) => Promise<unknown> | unknown;

export interface PlayOptions {
  /** How many times faster than real time (1: as the PBX would; Infinity: no waits). */
  speed?: number;
  /** Awaited after a step's delay and before it is sent: a demo waits for the hub here. */
  beforeStep?: (step: ScriptStep, index: number) => Promise<void> | void;
  /** Replaceable so unit tests need no real timers. */
  sleep?: (ms: number) => Promise<void>;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Sends each step's events through `send`, waiting the step's delay (divided by `speed`) first.
 * A failed send stops the script: later events of a call make no sense without the earlier.
 */
export async function playScript(
  send: SendEvents,
  steps: readonly ScriptStep[],
  options: PlayOptions = {},
): Promise<void> {
  const speed = options.speed ?? 1;
  if (!(speed > 0)) throw new Error(`speed must be positive, got ${speed}`);
  const sleep = options.sleep ?? realSleep;
  for (const [index, step] of steps.entries()) {
    const wait = step.delayMs / speed;
    if (wait > 0 && Number.isFinite(wait)) await sleep(wait);
    await options.beforeStep?.(step, index);
    await send(step.events);
  }
}
