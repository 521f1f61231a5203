import { randomBytes } from 'node:crypto';
import { createServer, IncomingMessage, request as httpRequest, Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { closeServer, listenOnLoopback } from './loopback';

// Written from the spec (pbx-sources.md §3, MegaFon VATS "universal CRM API"), independently of
// the hub's own code, so e2e tests check the hub against the documented wire format rather than
// against itself. Where the spec marks a field "unconfirmed", the choice made here is commented.

export type VatsCallType = 'in' | 'out';
export type VatsHistoryStatus = 'Success' | 'missed' | 'Busy' | 'NotAvailable' | 'Cancel';
export type VatsEventType =
  'INCOMING' | 'ACCEPTED' | 'COMPLETED' | 'CANCELLED' | 'OUTGOING' | 'TRANSFERRED';

/** An employee as `GET /crmapi/v1/users` lists them. */
export interface VatsUser {
  login: string;
  name: string;
  ext: string;
  telnum: string;
  mobile: string;
  email: string;
  position: string;
  role: string;
  /** `forward` read as the number calls go to (unconfirmed: only the field names are known). */
  mobile_redirect: { enabled: boolean; forward: string; delay: number };
}

/** A user with plausible defaults for the fields a test does not care about. */
export function vatsUser(login: string, ext: string, more: Partial<VatsUser> = {}): VatsUser {
  return {
    login,
    name: login,
    ext,
    telnum: `74951234${ext.padStart(3, '0').slice(-3)}`,
    mobile: '',
    email: `${login}@example.com`,
    position: '',
    role: 'user',
    mobile_redirect: { enabled: false, forward: '', delay: 0 },
    ...more,
  };
}

export const DEFAULT_VATS_USERS: readonly VatsUser[] = [
  vatsUser('ivanov', '101', { name: 'Ivan Ivanov', position: 'Sales manager' }),
  vatsUser('petrova', '102', { name: 'Anna Petrova', position: 'Sales manager' }),
  vatsUser('sidorov', '103', { name: 'Oleg Sidorov', position: 'Head of sales', role: 'admin' }),
];

/** A call id as the PBX makes them: lowercase hex (the spec's example is `9ab41c0e`). */
export function vatsCallid(): string {
  return randomBytes(8).toString('hex');
}

/** `YYYYMMDDThhmmssZ` in UTC, as the `history` post carries `start` (20240514T071502Z). */
export function postDate(d: Date): string {
  return `${d.toISOString().slice(0, 19).replace(/[-:]/g, '')}Z`;
}

/** `yyyy-MM-ddTHH:mm:ssZ` in UTC, as the REST API writes and reads dates. */
export function restDate(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

const REST_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

// ---------------------------------------------------------------------------------------------
// The PBX's REST API (§3.3)

/** One record of `GET /crmapi/v1/history/json`. */
export interface VatsHistoryEntry {
  /** The call's id: the same value as `callid` in the posts, so a backfill can match them. */
  uid: string;
  type: VatsCallType;
  status: VatsHistoryStatus;
  /** The client's number. */
  client: string;
  /** The company number the client dialled (or the line an outbound call used). */
  diversion: string;
  /** Where the call went: the employee's extension inbound, the client's number outbound (unconfirmed). */
  destination: string;
  /** The employee's login. */
  user: string;
  user_name: string;
  group_name: string;
  /** yyyy-MM-ddTHH:mm:ssZ, UTC. */
  start: string;
  /** Seconds of ringing before the answer (or before the caller gave up). */
  wait: number;
  /** Seconds of talk. */
  duration: number;
  /** The recording's URL, or "". */
  record: string;
  rating: number | null;
}

export type VatsHistoryInput = Partial<Omit<VatsHistoryEntry, 'start'>> &
  Pick<VatsHistoryEntry, 'type' | 'status' | 'client'> & { start: Date | string };

export interface VatsMakecall {
  user: string;
  phone: string;
  callid: string;
}

export interface VatsApiRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  /** Parsed JSON, the raw text when it is not JSON, undefined when empty. */
  body: unknown;
  /** The X-API-KEY header as received. */
  apiKey: string | undefined;
}

export interface FakeVatsApiOptions {
  apiKey: string;
  /** DEFAULT_VATS_USERS when omitted. */
  users?: VatsUser[];
  /**
   * Recording links are fetched by whatever downloads them, which may not add the API key, so
   * by default they need none (as a tokenised download link); set true to demand X-API-KEY.
   */
  recordingsNeedApiKey?: boolean;
}

const MP3_BYTES = Buffer.from([0x49, 0x44, 0x33, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a]);

/** `http.createServer` on 127.0.0.1 answering `/crmapi/v1/*` as a MegaFon VATS does. */
export class FakeVatsApi {
  readonly apiKey: string;
  readonly users: VatsUser[];
  readonly recordingsNeedApiKey: boolean;
  readonly requests: VatsApiRequest[] = [];
  readonly makecalls: VatsMakecall[] = [];
  /** When set, makecall answers this (after the key check) instead of placing a call. */
  failMakecall?: { status: number; body: unknown };
  /**
   * Run after makecall has answered, as the PBX then rings the employee and the client: a test
   * plays the outbound call to the hub here. Await `settled()` to see it finish or fail.
   */
  onMakecall?: (call: VatsMakecall, employee: VatsUser) => void | Promise<void>;
  /** Base URL, ending in /crmapi/v1; set by start(). */
  url = '';
  private readonly entries = new Map<string, VatsHistoryEntry>();
  private readonly pending = new Set<Promise<void>>();
  private readonly hookErrors: unknown[] = [];
  private server: Server | null = null;

  constructor(options: FakeVatsApiOptions) {
    this.apiKey = options.apiKey;
    this.users = options.users ?? DEFAULT_VATS_USERS.map((u) => structuredClone(u));
    this.recordingsNeedApiKey = options.recordingsNeedApiKey ?? false;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const reply = this.handle(req, Buffer.concat(chunks).toString('utf8'));
        res.writeHead(reply.status, {
          'content-type': reply.contentType ?? 'application/json; charset=utf-8',
        });
        res.end(Buffer.isBuffer(reply.body) ? reply.body : JSON.stringify(reply.body));
        reply.after?.();
      });
    });
    this.url = `${await listenOnLoopback(this.server)}/crmapi/v1`;
    return this.url;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
    this.server = null;
  }

  /** Waits for every onMakecall run so far; rethrows the first that failed. */
  async settled(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
    if (this.hookErrors.length) throw this.hookErrors[0];
  }

  /** The employee a makecall `user` names: login, extension or direct number. */
  findUser(who: string): VatsUser | undefined {
    return this.users.find((u) => u.login === who || u.ext === who || u.telnum === who);
  }

  recordingUrl(uid: string): string {
    if (!this.url) throw new Error('FakeVatsApi is not started');
    return `${this.url}/records/${encodeURIComponent(uid)}.mp3`;
  }

  /** Seeds (or replaces, by uid) one call of the PBX's history. */
  addHistory(input: VatsHistoryInput): VatsHistoryEntry {
    const entry = toEntry(input, (login) => this.findUser(login)?.name);
    this.entries.set(entry.uid, entry);
    return entry;
  }

  /** The whole history, oldest first. */
  get history(): VatsHistoryEntry[] {
    return [...this.entries.values()].sort((a, b) => a.start.localeCompare(b.start));
  }

  /** Updates the rating of a call already in the history (the `rating` post does). */
  rate(uid: string, rating: number): void {
    const entry = this.entries.get(uid);
    if (entry) entry.rating = rating;
  }

  private handle(req: IncomingMessage, raw: string): ApiReply {
    const url = new URL(req.url ?? '/', 'http://fake');
    const query = Object.fromEntries(url.searchParams);
    let body: unknown = undefined;
    if (raw.length) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    const header = req.headers['x-api-key'];
    const apiKey = Array.isArray(header) ? header[0] : header;
    const method = req.method ?? 'GET';
    const path = url.pathname;
    this.requests.push({ method, path, query, body, apiKey });

    const base = '/crmapi/v1';
    if (!path.startsWith(`${base}/`)) return error(404, 'not found');
    const route = path.slice(base.length);
    const record = /^\/records\/([^/]+)\.mp3$/.exec(route);
    const keyOk = apiKey === this.apiKey;
    if (!keyOk && !(record && !this.recordingsNeedApiKey)) {
      return error(401, apiKey ? 'invalid api key' : 'X-API-KEY header required');
    }

    if (record && method === 'GET') {
      const entry = this.entries.get(decodeURIComponent(record[1]));
      if (!entry?.record) return error(404, 'record not found');
      return { status: 200, contentType: 'audio/mpeg', body: MP3_BYTES };
    }
    if (route === '/makecall' && method === 'POST') return this.makecall(body);
    if (route === '/users' && method === 'GET') return { status: 200, body: this.users };
    const oneUser = /^\/users\/([^/]+)$/.exec(route);
    if (oneUser && method === 'GET') {
      const user = this.users.find((u) => u.login === decodeURIComponent(oneUser[1]));
      return user ? { status: 200, body: user } : error(404, 'user not found');
    }
    if (route === '/history/json' && method === 'GET') return this.historyJson(query);
    return error(404, 'not found');
  }

  private makecall(body: unknown): ApiReply {
    // The simulated refusal wins over validation: a PBX that is down answers the same to all.
    if (this.failMakecall)
      return { status: this.failMakecall.status, body: this.failMakecall.body };
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      return error(400, 'body must be a JSON object');
    }
    const { user, phone } = body as Record<string, unknown>;
    if (typeof user !== 'string' || !user) return error(400, 'user is required');
    if (typeof phone !== 'string' || !/^\d{3,20}$/.test(phone)) {
      return error(400, 'phone must be digits only');
    }
    const employee = this.findUser(user);
    if (!employee) return error(404, 'user not found');
    const call: VatsMakecall = { user, phone, callid: vatsCallid() };
    this.makecalls.push(call);
    const hook = this.onMakecall;
    return {
      status: 200,
      body: { callid: call.callid },
      after: hook
        ? () => {
            const run = Promise.resolve()
              .then(() => hook(call, employee))
              .catch((err: unknown) => {
                this.hookErrors.push(err);
              })
              .finally(() => this.pending.delete(run));
            this.pending.add(run);
          }
        : undefined,
    };
  }

  private historyJson(query: Record<string, string>): ApiReply {
    if (query.period !== undefined)
      return error(400, 'period is not simulated; send start and end');
    const { start, end } = query;
    if (!start || !REST_DATE.test(start) || Number.isNaN(Date.parse(start))) {
      return error(400, 'start must be yyyy-MM-ddTHH:mm:ssZ');
    }
    if (!end || !REST_DATE.test(end) || Number.isNaN(Date.parse(end))) {
      return error(400, 'end must be yyyy-MM-ddTHH:mm:ssZ');
    }
    const from = Date.parse(start);
    const to = Date.parse(end);
    if (from > to) return error(400, 'start is after end');
    const type = query.type ?? 'all';
    if (!['all', 'in', 'out', 'missed'].includes(type)) {
      return error(400, 'type must be all, in, out or missed');
    }
    const limit = query.limit === undefined ? 1000 : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1)
      return error(400, 'limit must be a positive integer');
    const matches = this.history.filter((e) => {
      const at = Date.parse(e.start);
      if (at < from || at >= to) return false;
      // "missed": inbound calls nobody talked on, whatever the reason (busy, unavailable…).
      if (type === 'missed') return e.type === 'in' && e.status !== 'Success';
      return type === 'all' || e.type === type;
    });
    return { status: 200, body: matches.slice(0, limit) };
  }
}

interface ApiReply {
  status: number;
  body: unknown;
  contentType?: string;
  /** Run once the answer is sent. */
  after?: () => void;
}

function toEntry(
  input: VatsHistoryInput,
  nameOf: (login: string) => string | undefined = () => undefined,
): VatsHistoryEntry {
  const start = typeof input.start === 'string' ? new Date(input.start) : input.start;
  if (Number.isNaN(start.getTime())) throw new Error(`start is not a date: ${input.start}`);
  const user = input.user ?? '';
  return {
    uid: input.uid ?? vatsCallid(),
    type: input.type,
    status: input.status,
    client: input.client,
    diversion: input.diversion ?? '',
    destination: input.destination ?? '',
    user,
    user_name: input.user_name ?? nameOf(user) ?? '',
    group_name: input.group_name ?? '',
    start: restDate(start),
    wait: input.wait ?? 0,
    duration: input.duration ?? 0,
    record: input.record ?? '',
    rating: input.rating ?? null,
  };
}

const error = (status: number, message: string): ApiReply => ({
  status,
  body: { error: message },
});

// ---------------------------------------------------------------------------------------------
// PBX → hub posts (§3.1)

export type VatsCmd = 'contact' | 'event' | 'history' | 'rating';
export type VatsFields = Record<string, string>;

export interface VatsReply {
  status: number;
  /** Parsed JSON when the hub answered JSON, the text otherwise ("" when empty). */
  body: unknown;
  contentType: string | undefined;
  /** What was posted, crm_token included. */
  fields: VatsFields;
}

export interface VatsContact {
  phone: string;
  callid: string;
  diversion?: string;
}

export interface VatsEvent {
  type: VatsEventType;
  direction: VatsCallType;
  phone: string;
  diversion?: string;
  user: string;
  ext: string;
  telnum?: string;
  groupRealName?: string;
  callid: string;
}

export interface VatsHistory {
  type: VatsCallType;
  status: VatsHistoryStatus;
  phone: string;
  user: string;
  ext: string;
  diversion?: string;
  telnum?: string;
  groupRealName?: string;
  start: Date;
  /** Seconds of talk. */
  duration: number;
  callid: string;
  link?: string;
  rating?: number;
  /** Not posted: only the API's history/json shows it. */
  waitS?: number;
}

export interface VatsRating {
  callid: string;
  rating: number;
  phone: string;
  user: string;
  ext: string;
}

export interface VatsEmployee {
  user: string;
  ext: string;
  telnum?: string;
  groupRealName?: string;
}

export interface ComposedOptions {
  /** A fresh hex id by default. */
  callid?: string;
  /** When the call began; now by default. */
  start?: Date;
  /** Post nothing, only add the call to the API's history: a call the hub never heard of. */
  historyOnly?: boolean;
  /** Wait between posts; the constructor's (0 by default) when omitted. */
  stepDelayMs?: number;
}

export interface ComposedCall {
  callid: string;
  /** The hub's answers, in the order of the posts (empty with historyOnly). */
  replies: VatsReply[];
  /** The call as the API's history/json now lists it. */
  history: VatsHistoryEntry;
}

export interface VatsPbxOptions {
  /** The hub's CRM URL, e.g. http://127.0.0.1:P/v1/pbx/<tenantId>/vats. */
  crmUrl: string;
  crmToken: string;
  /** Gets every played call in its history, serves recording links, fills telnum and names. */
  api?: FakeVatsApi;
  stepDelayMs?: number;
  timeoutMs?: number;
}

const FORM = 'application/x-www-form-urlencoded';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Drops undefined values; everything else becomes the string the form carries. */
function compact(fields: Record<string, string | number | undefined>): VatsFields {
  const out: VatsFields = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = String(v);
  return out;
}

/** Posts as the VATS does: one form-encoded POST per notice, `cmd` first, `crm_token` last. */
export class VatsPbx {
  readonly crmUrl: string;
  readonly crmToken: string;
  readonly api?: FakeVatsApi;
  /** Every post and the hub's answer, in order. */
  readonly sent: VatsReply[] = [];
  private readonly stepDelayMs: number;
  private readonly timeoutMs: number;

  constructor(options: VatsPbxOptions) {
    this.crmUrl = options.crmUrl;
    this.crmToken = options.crmToken;
    this.api = options.api;
    this.stepDelayMs = options.stepDelayMs ?? 0;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /**
   * One raw post. `crmToken: null` leaves the field out, a string replaces it (auth tests).
   * A hub that answers an error does not stop the PBX; a network failure rejects.
   */
  async post(
    cmd: VatsCmd,
    fields: VatsFields,
    options: { crmToken?: string | null } = {},
  ): Promise<VatsReply> {
    const token = options.crmToken === undefined ? this.crmToken : options.crmToken;
    const all: VatsFields = { cmd, ...fields, ...(token === null ? {} : { crm_token: token }) };
    const res = await postForm(this.crmUrl, new URLSearchParams(all).toString(), this.timeoutMs);
    let body: unknown = res.text;
    if (res.contentType?.includes('json') && res.text) {
      try {
        body = JSON.parse(res.text);
      } catch {
        body = res.text;
      }
    }
    const reply: VatsReply = {
      status: res.status,
      body,
      contentType: res.contentType,
      fields: all,
    };
    this.sent.push(reply);
    return reply;
  }

  contact(c: VatsContact): Promise<VatsReply> {
    return this.post(
      'contact',
      compact({ phone: c.phone, diversion: c.diversion, callid: c.callid }),
    );
  }

  event(e: VatsEvent): Promise<VatsReply> {
    return this.post(
      'event',
      compact({
        type: e.type,
        direction: e.direction,
        phone: e.phone,
        diversion: e.diversion,
        user: e.user,
        ext: e.ext,
        telnum: e.telnum,
        groupRealName: e.groupRealName,
        callid: e.callid,
      }),
    );
  }

  /** Posts the final record and puts the call in the attached API's history. */
  history(h: VatsHistory): Promise<VatsReply> {
    this.record(h);
    return this.post('history', historyFields(h));
  }

  /** Posts the client's rating and sets it on the call in the API's history. */
  rating(r: VatsRating): Promise<VatsReply> {
    this.api?.rate(r.callid, r.rating);
    return this.post(
      'rating',
      compact({ callid: r.callid, rating: r.rating, phone: r.phone, user: r.user, ext: r.ext }),
    );
  }

  /**
   * contact → INCOMING → ACCEPTED → COMPLETED → history Success. Without `user`, the PBX
   * routes as the hub's contact reply says: to the `responsible` (login, extension or direct
   * number of an API user), else to the API's first user (its default routing).
   */
  async inboundAnswered(
    o: ComposedOptions & {
      phone: string;
      diversion: string;
      user?: string;
      ext?: string;
      telnum?: string;
      groupRealName?: string;
      durationS: number;
      waitS?: number;
      recorded?: boolean;
    },
  ): Promise<ComposedCall> {
    const play = this.player(o);
    await play.send(() => this.contact(play.contactOf(o)));
    const who =
      o.user !== undefined
        ? this.employee({ ...o, user: o.user })
        : { ...this.routed(play.replies[0]), groupRealName: o.groupRealName };
    const event = (type: VatsEventType): VatsEvent => play.eventOf(type, 'in', o, who);
    for (const type of ['INCOMING', 'ACCEPTED', 'COMPLETED'] as const) {
      await play.send(() => this.event(event(type)));
    }
    return play.finish({
      type: 'in',
      status: 'Success',
      phone: o.phone,
      diversion: o.diversion,
      ...who,
      duration: o.durationS,
      waitS: o.waitS ?? 5,
      link: this.linkFor(play.callid, o.recorded),
    });
  }

  /** contact → INCOMING per ringing employee → CANCELLED per employee → history missed. */
  async inboundMissed(
    o: ComposedOptions & {
      phone: string;
      diversion: string;
      ring: VatsEmployee[];
      waitS?: number;
    },
  ): Promise<ComposedCall> {
    if (!o.ring.length) throw new Error('inboundMissed needs at least one ringing employee');
    const play = this.player(o);
    const ring = o.ring.map((r) => this.employee(r));
    const event = (type: VatsEventType, who: VatsEmployee): VatsEvent =>
      play.eventOf(type, 'in', o, who);
    await play.send(() => this.contact(play.contactOf(o)));
    for (const who of ring) await play.send(() => this.event(event('INCOMING', who)));
    for (const who of ring) await play.send(() => this.event(event('CANCELLED', who)));
    return play.finish({
      type: 'in',
      status: 'missed',
      phone: o.phone,
      diversion: o.diversion,
      ...ring[0],
      duration: 0,
      waitS: o.waitS ?? 20,
    });
  }

  /** OUTGOING → ACCEPTED → COMPLETED (answered) or CANCELLED → history out Success | Cancel. */
  async outbound(
    o: ComposedOptions &
      VatsEmployee & {
        phone: string;
        /** The company line shown to the client; left out when not given. */
        diversion?: string;
        answered: boolean;
        durationS: number;
        waitS?: number;
        recorded?: boolean;
      },
  ): Promise<ComposedCall> {
    const play = this.player(o);
    const who = this.employee(o);
    const event = (type: VatsEventType): VatsEvent => play.eventOf(type, 'out', o, who);
    const types: VatsEventType[] = o.answered
      ? ['OUTGOING', 'ACCEPTED', 'COMPLETED']
      : ['OUTGOING', 'CANCELLED'];
    for (const type of types) await play.send(() => this.event(event(type)));
    return play.finish({
      type: 'out',
      status: o.answered ? 'Success' : 'Cancel',
      phone: o.phone,
      diversion: o.diversion,
      ...who,
      duration: o.answered ? o.durationS : 0,
      waitS: o.waitS ?? 8,
      link: o.answered ? this.linkFor(play.callid, o.recorded) : undefined,
    });
  }

  /**
   * contact → INCOMING(from) → ACCEPTED(from) → TRANSFERRED → INCOMING(to) → ACCEPTED(to)
   * → COMPLETED(to) → history naming `to`, with the talk time of the whole call.
   *
   * The spec gives TRANSFERRED no fields of its own, so which employee it names is a guess:
   * here `user`/`ext` are those of the employee the call is handed TO, since the target is
   * the one fact the hub cannot know from earlier events.
   */
  async transferred(
    o: ComposedOptions & {
      phone: string;
      diversion: string;
      from: VatsEmployee;
      to: VatsEmployee;
      durationS: number;
      waitS?: number;
      recorded?: boolean;
    },
  ): Promise<ComposedCall> {
    const play = this.player(o);
    const from = this.employee(o.from);
    const to = this.employee(o.to);
    const event = (type: VatsEventType, who: VatsEmployee): VatsEvent =>
      play.eventOf(type, 'in', o, who);
    await play.send(() => this.contact(play.contactOf(o)));
    const steps: [VatsEventType, VatsEmployee][] = [
      ['INCOMING', from],
      ['ACCEPTED', from],
      ['TRANSFERRED', to],
      ['INCOMING', to],
      ['ACCEPTED', to],
      ['COMPLETED', to],
    ];
    for (const [type, who] of steps) await play.send(() => this.event(event(type, who)));
    return play.finish({
      type: 'in',
      status: 'Success',
      phone: o.phone,
      diversion: o.diversion,
      ...to,
      duration: o.durationS,
      waitS: o.waitS ?? 5,
      link: this.linkFor(play.callid, o.recorded),
    });
  }

  /** The call as the PBX keeps it: in the API's history when one is attached. */
  private record(h: VatsHistory): VatsHistoryEntry {
    const input: VatsHistoryInput = {
      uid: h.callid,
      type: h.type,
      status: h.status,
      client: h.phone,
      diversion: h.diversion,
      destination: h.type === 'in' ? h.ext : h.phone,
      user: h.user,
      group_name: h.groupRealName,
      start: h.start,
      wait: h.waitS,
      duration: h.duration,
      record: h.link,
      rating: h.rating,
    };
    return this.api ? this.api.addHistory(input) : toEntry(input);
  }

  private linkFor(callid: string, recorded: boolean | undefined): string | undefined {
    return recorded && this.api ? this.api.recordingUrl(callid) : undefined;
  }

  /** Fills the extension and direct number from the API's user list when the test gave none. */
  private employee(who: Omit<VatsEmployee, 'ext'> & { ext?: string }): VatsEmployee {
    const known = this.api?.findUser(who.user);
    const ext = who.ext ?? known?.ext;
    if (!ext) throw new Error(`no extension given for user ${who.user} and none in the API`);
    return {
      user: who.user,
      ext,
      telnum: who.telnum ?? known?.telnum,
      groupRealName: who.groupRealName,
    };
  }

  /** The employee the PBX rings after the hub's contact reply. */
  private routed(reply: VatsReply | undefined): VatsEmployee {
    const users = this.api?.users ?? [];
    const body = reply?.body as { responsible?: unknown } | undefined;
    const responsible = typeof body?.responsible === 'string' ? body.responsible : '';
    const user = (responsible && this.api?.findUser(responsible)) || users[0];
    if (!user) throw new Error('no user given and no API users to route the call to');
    return { user: user.login, ext: user.ext, telnum: user.telnum };
  }

  private player(o: ComposedOptions) {
    if (o.historyOnly && !this.api) throw new Error('historyOnly needs an attached FakeVatsApi');
    const callid = o.callid ?? vatsCallid();
    const start = new Date(Math.floor((o.start ?? new Date()).getTime() / 1000) * 1000);
    const delay = o.stepDelayMs ?? this.stepDelayMs;
    const replies: VatsReply[] = [];
    const send = async (post: () => Promise<VatsReply>) => {
      if (o.historyOnly) return;
      if (replies.length && delay > 0) await sleep(delay);
      replies.push(await post());
    };
    return {
      callid,
      replies,
      send,
      /** One `cmd=event` of this call, for the employee `who`. */
      eventOf: (
        type: VatsEventType,
        direction: 'in' | 'out',
        c: { phone: string; diversion?: string },
        who: VatsEmployee,
      ): VatsEvent => ({
        type,
        direction,
        phone: c.phone,
        diversion: c.diversion,
        ...who,
        callid,
      }),
      contactOf: (c: { phone: string; diversion?: string }): VatsContact => ({
        phone: c.phone,
        callid,
        diversion: c.diversion,
      }),
      finish: async (h: Omit<VatsHistory, 'callid' | 'start'>): Promise<ComposedCall> => {
        const full: VatsHistory = { ...h, callid, start };
        // In the API's history before the post, so a hub that looks it up on receipt finds it.
        const history = this.record(full);
        await send(() => this.post('history', historyFields(full)));
        return { callid, replies, history };
      },
    };
  }
}

function historyFields(h: VatsHistory): VatsFields {
  return compact({
    type: h.type,
    status: h.status,
    phone: h.phone,
    diversion: h.diversion,
    user: h.user,
    ext: h.ext,
    telnum: h.telnum,
    groupRealName: h.groupRealName,
    start: postDate(h.start),
    duration: h.duration,
    callid: h.callid,
    link: h.link,
    rating: h.rating,
  });
}

interface FormAnswer {
  status: number;
  contentType: string | undefined;
  text: string;
}

/** One POST on its own connection (no keep-alive pool left open after a test). */
function postForm(target: string, body: string, timeoutMs: number): Promise<FormAnswer> {
  const url = new URL(target);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(
      url,
      {
        method: 'POST',
        agent: false,
        timeout: timeoutMs,
        headers: { 'content-type': FORM, 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            contentType: res.headers['content-type'],
            text: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${target} in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
