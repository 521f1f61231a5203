import type { CallDirection, CallResult, NormalizedEvent } from '../../calls/call-event';
import { isExtension, normalizeParty, toE164 } from '../../contacts/phone';

/** What the normalizer needs from an AMI event: case-insensitive header lookup. */
export interface AmiEventLike {
  get(name: string): string | undefined;
}

/** Events the normalizer reads; everything else can be filtered out before it. */
export const ASTERISK_CALL_EVENTS: ReadonlySet<string> = new Set([
  'Newchannel',
  'Newstate',
  'NewCallerid',
  'DialBegin',
  'DialEnd',
  'BridgeEnter',
  'Hangup',
  'VarSet',
  'AgentCalled',
  'AgentConnect',
  'BlindTransfer',
  'AttendedTransfer',
  'OriginateResponse',
]);

export interface AsteriskNormalizerOptions {
  defaultCountry: string;
  /** e.g. `https://pbx.example.com/rec/{file}`; {file} = basename, {uniqueid}, {linkedid}. */
  recordingUrlTemplate?: string;
  now?: () => Date;
  /** Calls tracked at most; beyond, the least recently seen is forgotten. Default 50,000. */
  maxCalls?: number;
}

type LegKind = 'internal' | 'trunk' | 'plumbing';

/**
 * What the hub has stored of a call whose channels outlived the instance that followed it (a
 * crash, a takeover, a reconnect after a restart of the hub): enough to end it correctly.
 */
export interface KnownCall {
  callId: string;
  direction: CallDirection;
  startedAt: Date;
  answeredAt: Date | null;
  /** Who has the call now (the answerer, or the last transfer target). */
  extension: string | null;
  answeredBy: string | null;
  rang: number;
}

interface Leg {
  uniqueid: string;
  channel: string;
  kind: LegKind;
  /** Peer part of the channel name: `SIP/150010002-00000005` → `150010002`. */
  peer: string;
  callerIdNum?: string;
  /** Short number the leg was dialled as (DialBegin DestCallerIDNum / DestExten). */
  dialledAs?: string;
  /** Exten and CallerIDNum when first seen: the DID and caller of an inbound trunk leg. */
  firstExten?: string;
  firstCallerIdNum?: string;
  call: CallTrack;
  dead: boolean;
  rung: boolean;
  /** Its own dial was answered (DialEnd ANSWER, AgentConnect, or a bridge after ringing). */
  answered: boolean;
  /** The channel whose Dial created it. */
  dialledBy?: Leg;
  /** An outside number an inbound call was forwarded to (a mobile), E.164. */
  forwardedTo?: string;
  /** It had the call at some point (answered it, or took it over). */
  held: boolean;
  /** A phone that picked up a call ringing elsewhere; what it dialled names no one. */
  picker: boolean;
}

interface CallTrack {
  /** The hub callId: the Linkedid of the oldest channel, kept across merges. */
  id: string;
  linkedids: string[];
  startedAt: string;
  legs: Leg[];
  live: number;
  origin?: Leg;
  started: boolean;
  direction?: CallDirection;
  owner?: string;
  outsideNumber?: string;
  firstInternalTarget?: string;
  rung: number;
  answeredAtMs?: number;
  answeredBy?: string;
  /** Who has the call now: who answered, then each transfer target that picked up. */
  holder?: string;
  /** Outside numbers (mobiles) the call was forwarded to. */
  forwarded: number;
  statuses: Set<string>;
  causes: Set<number>;
  originCause?: number;
  recorded: Set<string>;
  lastSeenMs: number;
  /** `${caller uniqueid}|${number}` → first destination dialled with it. */
  fanOut: Map<string, string>;
  groupNumbers: Set<string>;
}

const PLUMBING_TECH = new Set([
  'Local',
  'Announcer',
  'Recorder',
  'CBAnn',
  'CBRec',
  'Bridge',
  'Message',
  'Snoop',
]);
const FINISHED_MEMORY = 20000;
const MAX_TRACKED_CALLS = 50_000;

function known(value: string | undefined): string | undefined {
  return value === undefined || value === '' || value === '<unknown>' ? undefined : value;
}

/**
 * Turns the AMI event stream of one PBX into hub call events.
 *
 * Identity: channels are grouped by `Linkedid` (one call), legs tracked by `Uniqueid`.
 * A leg whose Linkedid changes to another live call's (bridged with an older call,
 * attended transfer) merges its call into that one; the callId stays the original
 * Linkedid of the oldest channel.
 *
 * Parties. `Local/...` and similar channels are dialplan plumbing and never a party.
 * A real channel (`SIP/`, `PJSIP/`, `IAX2/`, ...) whose peer name is digits only
 * (`PJSIP/101-…`, `SIP/150010001-…`) is an internal phone; any other peer
 * (`PJSIP/trunk-…`, `SIP/voipgrid-siproute-docker-…`) is a trunk. An internal leg's
 * extension is, first match wins: the peer name when it is a short extension (≤ 6
 * digits); the short number it was dialled as (DialBegin `DestCallerIDNum`/`DestExten`,
 * e.g. 202 for `SIP/150010002`); its own short `CallerIDNum` (201 after the dialplan
 * set it); else the peer name itself (the SIP account, e.g. 150010002 in queue calls
 * whose dialplan never names the extension).
 *
 * Roles. The call's origin is its first real channel: a trunk → inbound call from its
 * CallerIDNum to its Exten (the DID); an internal phone → internal or outbound. With
 * click-to-dial (Originate) the origin is the agent's phone, rung first, and is not a
 * ringing target. Every other internal leg that is dialled (DialBegin / AgentCalled /
 * Newstate Ringing) rings; the first that answers (DialEnd ANSWER / AgentConnect /
 * BridgeEnter) answers. A trunk leg that is dialled makes the call outbound.
 *
 * Output per call: call.started (emitted lazily, when the first target is dialled or
 * the call ends, with the first channel's time); call.ringing per rung extension;
 * one call.answered; call.transferred; call.recording (MIXMONITOR_FILENAME + the
 * source's recordingUrlTemplate); call.ended when the last channel hangs up. An
 * inbound call that never rang an extension (hung up in the IVR, or created and hung
 * up without dialling) ends as `failed` with no ringing: it shows in the call list
 * but is neither missed (no lead) nor popped. A caller who gives up while an inbound
 * call rings is `missed` (that is what a CRM must follow up); for internal and
 * outbound calls it is `cancelled`.
 *
 * Event ids are `${callId}:${kind}:${uniqueid}`, so replaying the same AMI stream
 * (after a failover) yields the same ids and the hub drops the duplicates.
 */
export class AsteriskNormalizer {
  private readonly legs = new Map<string, Leg>();
  private readonly calls = new Map<string, CallTrack>();
  private readonly finished = new Set<string>();
  private readonly pendingClosings: NormalizedEvent[] = [];
  private readonly now: () => Date;

  constructor(private readonly options: AsteriskNormalizerOptions) {
    this.now = options.now ?? (() => new Date());
  }

  /** Calls being tracked (for tests and metrics). */
  get activeCalls(): number {
    return new Set(this.calls.values()).size;
  }

  push(msg: AmiEventLike): NormalizedEvent[] {
    const name = msg.get('Event');
    if (name === undefined) return [];
    const out: NormalizedEvent[] = [];
    const at = this.timeOf(msg);
    switch (name) {
      case 'DialBegin':
      case 'AgentCalled': {
        const caller = this.touch(msg, '', at);
        const dest = this.touch(msg, 'Dest', at);
        if (dest) {
          if (caller) this.linkDialled(caller, dest);
          this.noteFanOut(caller, dest, msg);
          this.onDialled(dest, msg, at, out);
        }
        break;
      }
      case 'DialEnd': {
        this.touch(msg, '', at);
        const dest = this.touch(msg, 'Dest', at);
        if (dest) this.onDialEnd(dest, msg.get('DialStatus') ?? '', at, out);
        break;
      }
      case 'AgentConnect': {
        this.touch(msg, '', at);
        const dest = this.touch(msg, 'Dest', at);
        if (dest) {
          dest.answered = true;
          this.onAnswered(dest, at, out);
        }
        break;
      }
      case 'Newstate': {
        const leg = this.touch(msg, '', at);
        if (leg && msg.get('ChannelState') === '5') this.onDialled(leg, msg, at, out);
        break;
      }
      case 'BridgeEnter': {
        const leg = this.touch(msg, '', at);
        // A forwarded leg bridges inside its own dial before a call-acceptance challenge is
        // answered; only the answer of every dial between it and the caller counts (onDialEnd).
        if (leg && leg.rung && !leg.forwardedTo) {
          leg.answered = true;
          this.onAnswered(leg, at, out);
        }
        break;
      }
      case 'Hangup': {
        const leg = this.touch(msg, '', at);
        if (leg) this.onHangup(leg, Number(msg.get('Cause') ?? '-1'), at, out);
        break;
      }
      case 'VarSet': {
        const leg = this.touch(msg, '', at);
        if (leg && msg.get('Variable') === 'MIXMONITOR_FILENAME') {
          this.onRecording(leg, msg.get('Value') ?? '', at, out);
        }
        break;
      }
      case 'BlindTransfer':
        this.onBlindTransfer(msg, at, out);
        break;
      case 'AttendedTransfer':
        this.onAttendedTransfer(msg, at, out);
        break;
      default:
        this.touch(msg, '', at);
    }
    // Consultation calls closed by a merge inside touch().
    if (this.pendingClosings.length) out.unshift(...this.pendingClosings.splice(0));
    return out;
  }

  /**
   * Takes up a call in progress that this normalizer never saw begin, from what the hub stored
   * and the channels Asterisk lists (CoreShowChannel): its later events then end it as if it
   * had been followed all along. A call it already tracks is left alone.
   */
  adopt(known: KnownCall, channels: readonly AmiEventLike[]): boolean {
    if (channels.length === 0 || this.calls.has(known.callId) || this.finished.has(known.callId))
      return false;
    const startedAt = known.startedAt.toISOString();
    const call = this.newCall(known.callId, startedAt);
    call.started = true;
    call.direction = known.direction;
    call.rung = known.rang;
    if (known.answeredAt) {
      call.answeredAtMs = known.answeredAt.getTime();
      call.answeredBy = known.answeredBy ?? undefined;
      call.holder = known.extension ?? known.answeredBy ?? undefined;
    }
    if (known.direction !== 'inbound') call.owner = known.answeredBy ?? undefined;
    // The channel that began the call first, so that it is the origin again.
    const ordered = [...channels].sort(
      (a, b) =>
        Number(b.get('Uniqueid') === known.callId) - Number(a.get('Uniqueid') === known.callId),
    );
    for (const channel of ordered) {
      const leg = this.touch(channel, '', startedAt);
      if (!leg || leg === call.origin) continue;
      // Whoever is on the call now has had it; no bridge of theirs is a new transfer.
      leg.rung = leg.kind !== 'plumbing';
      leg.answered = leg.held = call.answeredAtMs !== undefined;
    }
    return true;
  }

  /** Forgets calls silent for longer than maxIdleMs (a Hangup lost in a disconnect). */
  prune(maxIdleMs: number): number {
    const limit = this.now().getTime() - maxIdleMs;
    let dropped = 0;
    for (const call of new Set(this.calls.values())) {
      if (call.lastSeenMs < limit) {
        this.forget(call);
        dropped++;
      }
    }
    return dropped;
  }

  private timeOf(msg: AmiEventLike): string {
    const ts = msg.get('Timestamp');
    const seconds = ts !== undefined ? Number(ts) : NaN;
    return (Number.isFinite(seconds) ? new Date(seconds * 1000) : this.now()).toISOString();
  }

  /** Finds or creates the leg described by the `${prefix}Channel` block; follows Linkedid changes. */
  private touch(msg: AmiEventLike, prefix: '' | 'Dest', at: string): Leg | undefined {
    const uniqueid = msg.get(`${prefix}Uniqueid`);
    const channel = msg.get(`${prefix}Channel`);
    if (!uniqueid || !channel) return undefined;
    const linkedid = msg.get(`${prefix}Linkedid`) || uniqueid;
    let leg = this.legs.get(uniqueid);
    if (!leg) {
      if (this.finished.has(uniqueid) || this.finished.has(linkedid)) return undefined;
      const call = this.calls.get(linkedid) ?? this.newCall(linkedid, at);
      const slash = channel.indexOf('/');
      const tech = slash === -1 ? channel : channel.slice(0, slash);
      const dash = channel.lastIndexOf('-');
      const peer = channel.slice(slash + 1, dash > slash ? dash : undefined);
      const kind: LegKind = PLUMBING_TECH.has(tech)
        ? 'plumbing'
        : /^\d+$/.test(peer)
          ? 'internal'
          : 'trunk';
      leg = {
        uniqueid,
        channel,
        kind,
        peer,
        firstExten: known(msg.get(`${prefix}Exten`)),
        firstCallerIdNum: known(msg.get(`${prefix}CallerIDNum`)),
        call,
        dead: false,
        rung: false,
        answered: false,
        held: false,
        picker: false,
      };
      this.legs.set(uniqueid, leg);
      call.legs.push(leg);
      call.live++;
      if (!call.origin && kind !== 'plumbing') call.origin = leg;
    } else if (leg.dead) {
      // Asterisk sends a few events (NewConnectedLine) after a leg's Hangup.
      return undefined;
    } else if (!leg.call.linkedids.includes(linkedid)) {
      const other = this.calls.get(linkedid);
      if (other) this.merge(leg.call, other);
      else this.alias(leg.call, linkedid);
    }
    const cid = known(msg.get(`${prefix}CallerIDNum`));
    if (cid) leg.callerIdNum = cid;
    leg.call.lastSeenMs = Date.parse(at);
    return leg;
  }

  private newCall(linkedid: string, at: string): CallTrack {
    // Memory stays bounded whatever the stream: a flood of calls that never hang up (or a
    // PBX whose hangups we miss) evicts the calls not heard of for longest.
    if (this.calls.size >= (this.options.maxCalls ?? MAX_TRACKED_CALLS)) this.evictStalest();
    const call: CallTrack = {
      id: linkedid,
      linkedids: [linkedid],
      startedAt: at,
      legs: [],
      live: 0,
      started: false,
      rung: 0,
      forwarded: 0,
      statuses: new Set(),
      causes: new Set(),
      recorded: new Set(),
      fanOut: new Map(),
      groupNumbers: new Set(),
      lastSeenMs: Date.parse(at),
    };
    this.calls.set(linkedid, call);
    return call;
  }

  private evictStalest(): void {
    let stalest: CallTrack | undefined;
    for (const call of this.calls.values()) {
      if (!stalest || call.lastSeenMs < stalest.lastSeenMs) stalest = call;
    }
    if (stalest) this.forget(stalest);
  }

  private alias(call: CallTrack, linkedid: string): void {
    call.linkedids.push(linkedid);
    this.calls.set(linkedid, call);
  }

  private extensionOf(leg: Leg): string {
    if (isExtension(leg.peer)) return leg.peer;
    if (leg.dialledAs) return leg.dialledAs;
    const cid = leg.callerIdNum;
    if (cid && isExtension(cid) && !leg.call.groupNumbers.has(cid)) return cid;
    return leg.peer;
  }

  /**
   * A number one channel dials towards several destinations at once is a ring-group
   * number (401), not any member's extension; members are then told apart by peer.
   */
  private noteFanOut(caller: Leg | undefined, dest: Leg, msg: AmiEventLike): void {
    const number = known(msg.get('DestCallerIDNum'));
    if (!caller || !number || !isExtension(number)) return;
    const key = `${caller.uniqueid}|${number}`;
    const seen = dest.call.fanOut.get(key);
    if (seen === undefined) dest.call.fanOut.set(key, dest.uniqueid);
    else if (seen !== dest.uniqueid) dest.call.groupNumbers.add(number);
  }

  private onDialled(dest: Leg, msg: AmiEventLike, at: string, out: NormalizedEvent[]): void {
    const call = dest.call;
    if (dest.kind === 'plumbing' || dest === call.origin || dest.rung) return;
    if (dest.kind === 'internal') {
      for (const field of dest.picker ? [] : ['DestCallerIDNum', 'DestExten']) {
        const v = known(msg.get(field));
        if (!dest.dialledAs && v && isExtension(v) && !call.groupNumbers.has(v)) {
          dest.dialledAs = v;
        }
      }
      dest.rung = true;
      call.rung++;
      const extension = this.extensionOf(dest);
      call.firstInternalTarget ??= extension;
      this.ensureStarted(call, out);
      out.push(this.event(call, 'ringing', dest.uniqueid, at, { extension }));
      return;
    }
    // A trunk being dialled: the call goes out to this number.
    dest.rung = true;
    const dialString = msg.get('DialString')?.split('@')[0];
    const number = [msg.get('DestExten'), msg.get('DestCallerIDNum'), dialString]
      .map(known)
      .find((v) => v !== undefined && toE164(v, this.options.defaultCountry) !== null);
    if (call.origin?.kind === 'trunk') {
      // An inbound call going out again: forwarded to a mobile (follow-me, after hours).
      const forwardedTo = number ? toE164(number, this.options.defaultCountry) : null;
      if (!forwardedTo) return;
      dest.forwardedTo = forwardedTo;
      call.rung++;
      call.forwarded++;
      this.ensureStarted(call, out);
      out.push(this.event(call, 'ringing', dest.uniqueid, at, { extension: forwardedTo }));
      return;
    }
    call.outsideNumber ??= number;
    this.ensureStarted(call, out);
  }

  /**
   * Notes who dialled a leg. A leg of another call that was never dialled from there (the
   * phone that picked the call up, by feature code or SIP Replaces) joins the caller's call.
   */
  private linkDialled(caller: Leg, dest: Leg): void {
    dest.dialledBy ??= caller;
    if (dest.call !== caller.call && dest.call.origin === dest && !dest.call.started) {
      dest.picker = true;
      this.merge(dest.call, caller.call);
    }
  }

  /** The `;1` half of a Local channel's `;2` half. */
  private localPair(leg: Leg): Leg | undefined {
    if (!leg.channel.endsWith(';2')) return undefined;
    const name = `${leg.channel.slice(0, -2)};1`;
    return leg.call.legs.find((l) => l.channel === name);
  }

  /**
   * Whether every dial between this leg and the call's origin was answered: a forwarded leg
   * behind Local channels counts only once the caller is connected (a mobile's voicemail or
   * an unanswered call-acceptance challenge answers the inner dial, never the outer one).
   */
  private connectedToOrigin(leg: Leg): boolean {
    let cur: Leg | undefined = leg;
    for (let hop = 0; cur && hop < 16; hop++) {
      if (!cur.answered || cur.dead) return false;
      const parent: Leg | undefined = cur.dialledBy;
      if (!parent) return false;
      if (parent === cur.call.origin || parent.kind !== 'plumbing') return true;
      cur = this.localPair(parent);
    }
    return false;
  }

  private onDialEnd(dest: Leg, status: string, at: string, out: NormalizedEvent[]): void {
    const call = dest.call;
    if (dest === call.origin) return;
    if (status) call.statuses.add(status.toUpperCase());
    if (status !== 'ANSWER') return;
    dest.answered = true;
    if (dest.kind === 'internal' || (dest.kind === 'trunk' && !dest.forwardedTo)) {
      this.onAnswered(dest, at, out);
    } else if (call.forwarded > 0) {
      const reached = call.legs.find((l) => l.forwardedTo && this.connectedToOrigin(l));
      if (reached) this.onAnswered(reached, at, out);
    }
  }

  private onAnswered(leg: Leg, at: string, out: NormalizedEvent[]): void {
    const call = leg.call;
    if (leg === call.origin || leg.kind === 'plumbing') return;
    if (call.answeredAtMs !== undefined) {
      this.onTakenOver(leg, at, out);
      return;
    }
    this.ensureStarted(call, out);
    // The outside party picking up an outbound call: the agent who placed it has it.
    const extension =
      leg.kind === 'internal' ? this.extensionOf(leg) : (leg.forwardedTo ?? call.owner);
    if (!extension && call.direction === 'inbound') return;
    call.answeredAtMs = Date.parse(at);
    call.answeredBy = extension;
    call.holder = extension;
    leg.held = true;
    out.push(this.event(call, 'answered', leg.uniqueid, at, extension ? { extension } : {}));
  }

  /**
   * Someone rung after the call was answered picks it up: the target of a blind or "blonde"
   * transfer, or a mobile it was transferred out to. The call is theirs from now on; a
   * target that never answers leaves it with whoever had it.
   */
  private onTakenOver(leg: Leg, at: string, out: NormalizedEvent[]): void {
    const call = leg.call;
    // A phone that had the call already re-enters bridges as parties come and go.
    if (!leg.rung || leg.held) return;
    const extension = leg.kind === 'internal' ? this.extensionOf(leg) : leg.forwardedTo;
    if (!extension) return;
    leg.held = true;
    if (extension === call.holder) return;
    call.holder = extension;
    out.push(this.event(call, 'transferred', leg.uniqueid, at, { extension }));
  }

  private onHangup(leg: Leg, cause: number, at: string, out: NormalizedEvent[]): void {
    const call = leg.call;
    leg.dead = true;
    call.live--;
    if (leg === call.origin) call.originCause = cause;
    else if (leg.kind !== 'plumbing' && leg.rung) call.causes.add(cause);
    if (call.live <= 0) this.finish(call, at, out);
  }

  private onRecording(leg: Leg, path: string, at: string, out: NormalizedEvent[]): void {
    const call = leg.call;
    const template = this.options.recordingUrlTemplate;
    if (!template || !path || call.recorded.has(leg.uniqueid)) return;
    call.recorded.add(leg.uniqueid);
    const file = path.slice(path.lastIndexOf('/') + 1);
    const recordingUrl = template
      .replace(/\{file\}/g, encodeURIComponent(file))
      .replace(/\{uniqueid\}/g, encodeURIComponent(leg.uniqueid))
      .replace(/\{linkedid\}/g, encodeURIComponent(call.id));
    this.ensureStarted(call, out);
    out.push(this.event(call, 'recording', leg.uniqueid, at, { recordingUrl }));
  }

  /**
   * A blind transfer only sends the caller to a number: nobody has the call until the
   * target (an extension, a group's member, a mobile) answers, which onTakenOver reports.
   */
  private onBlindTransfer(msg: AmiEventLike, at: string, out: NormalizedEvent[]): void {
    const transferee = this.legFrom(msg, 'Transferee') ?? this.legFrom(msg, 'Transferer');
    if (transferee && msg.get('Result') === 'Success') this.ensureStarted(transferee.call, out);
  }

  private onAttendedTransfer(msg: AmiEventLike, at: string, out: NormalizedEvent[]): void {
    if (msg.get('Result') !== 'Success') return;
    const first = this.legFrom(msg, 'OrigTransferer') ?? this.legFrom(msg, 'Transferee');
    const second = this.legFrom(msg, 'SecondTransferer');
    const target = this.legFrom(msg, 'TransferTarget');
    if (!first) return;
    let call = first.call;
    if (second && second.call !== call) call = this.merge(second.call, call);
    const consulted =
      target && target.kind === 'internal' ? target : second ? this.consulted(second) : undefined;
    // "Blonde": transferred while the target still rings; its answer, if any, tells.
    if (!consulted || !consulted.answered) return;
    consulted.held = true;
    const extension = this.extensionOf(consulted);
    if (extension === call.holder) return;
    call.holder = extension;
    this.ensureStarted(call, out);
    out.push(
      this.event(call, 'transferred', `${second?.uniqueid ?? first.uniqueid}:${extension}`, at, {
        extension,
      }),
    );
  }

  /** The phone the transferring agent consulted: the last one the second call rang. */
  private consulted(second: Leg): Leg | undefined {
    const legs = second.call.legs.filter((l) => l.kind === 'internal' && l.rung && l !== second);
    return legs[legs.length - 1];
  }

  private legFrom(msg: AmiEventLike, prefix: string): Leg | undefined {
    const id = msg.get(`${prefix}Uniqueid`);
    return id ? this.legs.get(id) : undefined;
  }

  /**
   * Joins `from` into `into` (the call whose Linkedid the legs now carry). The
   * absorbed call's own record (an attended-transfer consultation) is closed.
   */
  private merge(from: CallTrack, into: CallTrack): CallTrack {
    if (from === into) return into;
    // The oldest call survives whatever order the events came in.
    const [survivor, absorbed] = from.startedAt < into.startedAt ? [from, into] : [into, from];
    const closing: NormalizedEvent[] = [];
    if (absorbed.started) {
      closing.push(this.endEvent(absorbed, this.now().toISOString()));
    }
    for (const leg of absorbed.legs) {
      leg.call = survivor;
      survivor.legs.push(leg);
    }
    survivor.live += absorbed.live;
    for (const id of absorbed.linkedids) this.alias(survivor, id);
    this.pendingClosings.push(...closing);
    return survivor;
  }

  private ensureStarted(call: CallTrack, out: NormalizedEvent[]): void {
    if (call.started) return;
    call.started = true;
    const origin = call.origin;
    const country = this.options.defaultCountry;
    const extra: Partial<NormalizedEvent> = {};
    if (!origin) {
      call.direction = 'internal';
    } else if (origin.kind === 'trunk') {
      call.direction = 'inbound';
      const from = origin.firstCallerIdNum ?? origin.callerIdNum;
      const fromE164 = from ? toE164(from, country) : null;
      if (fromE164) extra.from = fromE164;
      const to = origin.firstExten ? normalizeParty(origin.firstExten, country) : null;
      if (to) extra.to = to;
    } else {
      call.owner = this.extensionOf(origin);
      const dialled = origin.firstExten;
      if (
        !call.outsideNumber &&
        dialled &&
        !isExtension(dialled) &&
        toE164(dialled, country) !== null
      ) {
        call.outsideNumber = dialled;
      }
      call.direction = call.outsideNumber ? 'outbound' : 'internal';
      extra.from = call.owner;
      extra.extension = call.owner;
      const to = call.outsideNumber
        ? toE164(call.outsideNumber, country)
        : dialled && isExtension(dialled) && dialled !== call.owner
          ? dialled
          : (call.firstInternalTarget ?? null);
      if (to) extra.to = to;
    }
    out.push(
      this.event(call, 'started', call.id, call.startedAt, {
        direction: call.direction,
        ...extra,
      }),
    );
  }

  private finish(call: CallTrack, at: string, out: NormalizedEvent[]): void {
    this.ensureStarted(call, out);
    out.push(this.endEvent(call, at));
    this.forget(call);
  }

  private endEvent(call: CallTrack, at: string): NormalizedEvent {
    const result = this.resultOf(call);
    const duration =
      call.answeredAtMs !== undefined
        ? Math.max(0, Math.round((Date.parse(at) - call.answeredAtMs) / 1000))
        : 0;
    const extra: Partial<NormalizedEvent> = { result, duration };
    if (result === 'answered' && call.answeredBy) extra.extension = call.answeredBy;
    return this.event(call, 'ended', call.id, at, extra);
  }

  private resultOf(call: CallTrack): CallResult {
    if (call.answeredAtMs !== undefined) return 'answered';
    const inbound = call.direction === 'inbound';
    // No extension ever rang: nobody missed it (see the class comment).
    if (inbound && call.rung === 0) return 'failed';
    // A mobile that rejects, never confirms or does not pick up: the caller still waits for us.
    if (inbound && call.forwarded > 0) return 'missed';
    const gaveUp: CallResult = inbound ? 'missed' : 'cancelled';
    const s = call.statuses;
    if (s.has('CANCEL')) return gaveUp;
    if (s.has('NOANSWER')) return 'missed';
    if (s.has('BUSY')) return 'busy';
    if (s.has('CHANUNAVAIL') || s.has('CONGESTION')) return 'failed';
    const c = call.causes;
    if (c.has(19)) return 'missed';
    if (c.has(17) || c.has(21)) return 'busy';
    if (c.has(0) || call.originCause === 0) return gaveUp;
    return call.rung > 0 ? 'missed' : 'failed';
  }

  private event(
    call: CallTrack,
    kind: string,
    key: string,
    at: string,
    extra: Partial<NormalizedEvent>,
  ): NormalizedEvent {
    const id =
      kind === 'started' || kind === 'ended' ? `${call.id}:${kind}` : `${call.id}:${kind}:${key}`;
    return { id, callId: call.id, type: `call.${kind}` as NormalizedEvent['type'], at, ...extra };
  }

  private forget(call: CallTrack): void {
    for (const leg of call.legs) {
      this.legs.delete(leg.uniqueid);
      this.remember(leg.uniqueid);
    }
    for (const id of call.linkedids) {
      this.calls.delete(id);
      this.remember(id);
    }
  }

  /** Late events of an ended call must not open a new one; a bounded memory suffices. */
  private remember(id: string): void {
    this.finished.add(id);
    if (this.finished.size > FINISHED_MEMORY) {
      const oldest = this.finished.values().next().value;
      if (oldest !== undefined) this.finished.delete(oldest);
    }
  }
}
