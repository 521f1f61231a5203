import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { closeServer, listenOnLoopback } from './loopback';

// Written from the spec (pbx-sources.md §1.3-1.7), independently of src/pbx/zadarma, so the
// e2e tests check the hub against the documented wire format rather than against itself.

/** base64 of the lowercase hex HMAC-SHA1, as PHP's base64_encode(hash_hmac('sha1', …)). */
function b64hexHmac(secret: string, data: string): string {
  const hex = createHmac('sha1', secret).update(data).digest('hex');
  return Buffer.from(hex).toString('base64');
}

export type Fields = Record<string, string>;

export interface ZadarmaWebhook {
  fields: Fields;
  /** The Signature header Zadarma would send. */
  signature: string;
}

const SIGNED: Record<string, string[]> = {
  NOTIFY_START: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_INTERNAL: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_END: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_IVR: ['caller_id', 'called_did', 'call_start'],
  NOTIFY_ANSWER: ['caller_id', 'destination', 'call_start'],
  NOTIFY_OUT_START: ['internal', 'destination', 'call_start'],
  NOTIFY_OUT_END: ['internal', 'destination', 'call_start'],
  NOTIFY_RECORD: ['pbx_call_id', 'call_id_with_rec'],
};

export function signWebhook(secret: string, fields: Fields): string {
  const names = SIGNED[fields.event];
  if (!names) throw new Error(`no signature rule for ${fields.event}`);
  return b64hexHmac(secret, names.map((n) => fields[n] ?? '').join(''));
}

export interface EncodedBody {
  body: string;
  contentType: string;
}

export function encodeForm(fields: Fields): EncodedBody {
  return {
    body: new URLSearchParams(fields).toString(),
    contentType: 'application/x-www-form-urlencoded',
  };
}

/**
 * multipart/form-data as Zadarma may send it. `boundaryBug` reproduces the mismatch seen by the
 * npm `zadarma` author: the body's delimiter lines carry two more dashes than the header says.
 */
export function encodeMultipart(
  fields: Fields,
  options: { boundaryBug?: boolean } = {},
): EncodedBody {
  const boundary = `----zdBoundary${randomBytes(6).toString('hex')}`;
  const delimiter = options.boundaryBug ? `----${boundary}` : `--${boundary}`;
  const parts = Object.entries(fields).map(
    ([name, value]) =>
      `${delimiter}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`,
  );
  return {
    body: `${parts.join('')}${delimiter}--\r\n`,
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

/**
 * "YYYY-MM-DD HH:MM:SS" on the Moscow wall clock (UTC+3, no DST), as an account in that zone
 * shows a time. The hub refuses notifications whose call_start is hours away from its clock
 * (replays), so scripted calls start now unless a test says otherwise.
 */
export function moscowWallClock(ms: number = Date.now()): string {
  return new Date(ms + 3 * 3600_000).toISOString().slice(0, 19).replace('T', ' ');
}

/** The UTC instant (ISO, whole seconds) of a Moscow wall-clock time from moscowWallClock. */
export function moscowToIso(wallClock: string): string {
  return new Date(`${wallClock.replace(' ', 'T')}+03:00`).toISOString();
}

export interface ScriptedCall {
  pbxCallId: string;
  /** As Zadarma shows it: the account's wall clock, no offset. */
  callStart: string;
  webhooks: ZadarmaWebhook[];
}

export interface InboundOptions {
  caller?: string;
  did?: string;
  callStart?: string;
  pbxCallId?: string;
}

/** Builds correctly signed notification sequences for scripted calls. */
export class ZadarmaSimulator {
  private seq = 0;

  constructor(private readonly secret: string) {}

  webhook(fields: Fields): ZadarmaWebhook {
    return { fields, signature: signWebhook(this.secret, fields) };
  }

  inboundId(): string {
    return `in_${createHash('sha1').update(`in-${Date.now()}-${++this.seq}-${Math.random()}`).digest('hex')}`;
  }

  outboundId(): string {
    return `out_${createHash('sha1').update(`out-${Date.now()}-${++this.seq}-${Math.random()}`).digest('hex')}`;
  }

  private inbound(o: InboundOptions) {
    const call = {
      pbx_call_id: o.pbxCallId ?? this.inboundId(),
      call_start: o.callStart ?? moscowWallClock(),
      caller_id: o.caller ?? '79161234567',
      called_did: o.did ?? '74951234567',
    };
    const common = { call_start: call.call_start, pbx_call_id: call.pbx_call_id };
    return {
      call,
      start: () => this.webhook({ event: 'NOTIFY_START', ...call }),
      internal: (ext: string) => this.webhook({ event: 'NOTIFY_INTERNAL', ...call, internal: ext }),
      answer: (ext: string) =>
        this.webhook({
          event: 'NOTIFY_ANSWER',
          ...common,
          caller_id: call.caller_id,
          destination: ext,
          internal: ext,
        }),
      end: (f: Fields) => this.webhook({ event: 'NOTIFY_END', ...call, status_code: '16', ...f }),
      record: (rec: string) =>
        this.webhook({
          event: 'NOTIFY_RECORD',
          pbx_call_id: call.pbx_call_id,
          call_id_with_rec: rec,
        }),
    };
  }

  /** §1.6 (a): start, ring, answer, end (recorded or not), then NOTIFY_RECORD when recorded. */
  answeredCall(
    o: InboundOptions & { ext?: string; duration?: number; recorded?: boolean } = {},
  ): ScriptedCall {
    const c = this.inbound(o);
    const ext = o.ext ?? '101';
    const rec = `${Math.floor(Date.now() / 1000)}.${100000 + ++this.seq}`;
    const webhooks = [
      c.start(),
      c.internal(ext),
      c.answer(ext),
      c.end({
        internal: ext,
        duration: String(o.duration ?? 95),
        disposition: 'answered',
        is_recorded: o.recorded ? '1' : '0',
        ...(o.recorded ? { call_id_with_rec: rec } : {}),
      }),
    ];
    if (o.recorded) webhooks.push(c.record(rec));
    return { pbxCallId: c.call.pbx_call_id, callStart: c.call.call_start, webhooks };
  }

  /** §1.6 (b): a ring-all group nobody answers; the caller gives up. */
  missedRingAll(
    o: InboundOptions & { exts?: string[]; disposition?: 'cancel' | 'no answer' } = {},
  ): ScriptedCall {
    const c = this.inbound(o);
    const exts = o.exts ?? ['101', '102', '103'];
    const webhooks = [
      c.start(),
      ...exts.map((e) => c.internal(e)),
      c.end({ duration: '0', disposition: o.disposition ?? 'cancel', is_recorded: '0' }),
    ];
    return { pbxCallId: c.call.pbx_call_id, callStart: c.call.call_start, webhooks };
  }

  /**
   * A transfer as far as Zadarma's notifications can show one (no transfer event exists; what
   * it sends is unconfirmed): 101 answers, 102 rings and answers, the end names 102.
   */
  transferredCall(o: InboundOptions & { from?: string; to?: string } = {}): ScriptedCall {
    const c = this.inbound(o);
    const a = o.from ?? '101';
    const b = o.to ?? '102';
    const webhooks = [
      c.start(),
      c.internal(a),
      c.answer(a),
      c.internal(b),
      c.answer(b),
      c.end({ internal: b, duration: '120', disposition: 'answered', is_recorded: '0' }),
    ];
    return { pbxCallId: c.call.pbx_call_id, callStart: c.call.call_start, webhooks };
  }

  /** §1.6 (c): an extension calls out. */
  outboundCall(
    o: {
      ext?: string;
      to?: string;
      callerId?: string;
      callStart?: string;
      disposition?: string;
      duration?: number;
    } = {},
  ): ScriptedCall {
    const call = {
      call_start: o.callStart ?? moscowWallClock(),
      pbx_call_id: this.outboundId(),
      internal: o.ext ?? '101',
      destination: o.to ?? '79161234567',
    };
    const webhooks = [
      this.webhook({ event: 'NOTIFY_OUT_START', ...call }),
      this.webhook({
        event: 'NOTIFY_OUT_END',
        ...call,
        caller_id: o.callerId ?? '74951234567',
        duration: String(o.duration ?? 42),
        disposition: o.disposition ?? 'answered',
        status_code: '16',
        is_recorded: '0',
      }),
    ];
    return { pbxCallId: call.pbx_call_id, callStart: call.call_start, webhooks };
  }
}

// ---------------------------------------------------------------------------------------------
// Fake REST API

/** PHP urlencode, byte by byte: [A-Za-z0-9_.-] literal, space "+", everything else %XX. */
function phpUrlencode(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9_.-]/.test(c)) out += c;
    else if (c === ' ') out += '+';
    else out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export interface RecordedApiRequest {
  method: string;
  path: string;
  params: Record<string, string>;
  rawQuery: string;
  authorization: string | undefined;
  authorized: boolean;
}

/** A call of the PBX statistics (`/v1/statistics/pbx/`, version 2), as Zadarma lists it. */
export interface FakeZadarmaStat {
  call_type: 'in' | 'out';
  pbx_call_id: string;
  call_id: string;
  sip: string;
  /** `YYYY-MM-DD HH:MM:SS` on the account's clock. */
  callstart: string;
  clid: string;
  destination: string;
  disposition: string;
  seconds: number;
  is_recorded: 'true' | 'false';
}

/**
 * A node:http server implementing the REST endpoints the hub uses, with Zadarma's request
 * signature checked exactly (§1.7): sorted params, PHP urlencode, method path + query + md5.
 */
export class FakeZadarmaApi {
  readonly requests: RecordedApiRequest[] = [];
  /** call_id → how many more times to answer "file not found" (the API's state right after NOTIFY_RECORD). */
  readonly notReadyTimes = new Map<string, number>();
  /** When set, every request fails with this HTTP status. */
  failWith: number | null = null;
  /** The PBX's call statistics, answered page by page (skip/limit) within start–end. */
  readonly stats: FakeZadarmaStat[] = [];
  private server: Server | null = null;
  url = '';

  constructor(
    readonly key: string,
    readonly secret: string,
  ) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    this.url = await listenOnLoopback(this.server);
    return this.url;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
    this.server = null;
  }

  recordingLinkFor(callId: string): string {
    return `${this.url}/v1/pbx/record/download/tok${createHash('md5').update(callId).digest('hex')}/${callId}.mp3`;
  }

  /** The signature Zadarma expects for these params on that path. */
  expectedAuthorization(path: string, params: Record<string, string>): string {
    const query = Object.keys(params)
      .sort()
      .map((k) => `${phpUrlencode(k)}=${phpUrlencode(params[k])}`)
      .join('&');
    const md5 = createHash('md5').update(query).digest('hex');
    return `${this.key}:${b64hexHmac(this.secret, `${path}${query}${md5}`)}`;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://fake');
    const params: Record<string, string> = {};
    for (const [k, v] of url.searchParams) params[k] = v;
    const authorization = req.headers.authorization;
    const authorized = authorization === this.expectedAuthorization(url.pathname, params);
    this.requests.push({
      method: req.method ?? 'GET',
      path: url.pathname,
      params,
      rawQuery: url.search.slice(1),
      authorization,
      authorized,
    });
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (this.failWith) return send(this.failWith, { status: 'error', message: 'Internal error' });
    // Download links carry their own token and need no signature, like Zadarma's.
    if (req.method === 'GET' && url.pathname.startsWith('/v1/pbx/record/download/')) {
      res.writeHead(200, { 'content-type': 'audio/mpeg' });
      res.end(`ID3-zadarma-${url.pathname.split('/').pop()}`);
      return;
    }
    if (!authorized) return send(401, { status: 'error', message: 'Not authorized' });
    if (req.method === 'GET' && url.pathname === '/v1/pbx/record/request/') {
      const callId = params.call_id ?? params.pbx_call_id;
      const lifetime = Number(params.lifetime ?? 1800);
      if (!callId || !(lifetime >= 180 && lifetime <= 5184000)) {
        return send(400, { status: 'error', message: 'Wrong parameters' });
      }
      const notReady = this.notReadyTimes.get(callId) ?? 0;
      if (notReady > 0) {
        this.notReadyTimes.set(callId, notReady - 1);
        return send(404, { status: 'error', message: 'File not found' });
      }
      const lifetimeTill = Math.floor(Date.now() / 1000) + lifetime;
      if (params.call_id) {
        return send(200, {
          status: 'success',
          link: this.recordingLinkFor(callId),
          lifetime_till: lifetimeTill,
        });
      }
      return send(200, {
        status: 'success',
        links: [this.recordingLinkFor(callId)],
        lifetime_till: lifetimeTill,
      });
    }
    if (req.method === 'GET' && url.pathname === '/v1/statistics/pbx/') {
      const stamp = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;
      if (
        !stamp.test(params.start ?? '') ||
        !stamp.test(params.end ?? '') ||
        params.version !== '2'
      )
        return send(400, { status: 'error', message: 'Wrong parameters' });
      const limit = Math.min(1000, Number(params.limit ?? 1000));
      const skip = Number(params.skip ?? 0);
      const matching = this.stats.filter(
        (s) =>
          (!params.call_type || s.call_type === params.call_type) &&
          s.callstart >= params.start &&
          s.callstart <= params.end,
      );
      return send(200, {
        status: 'success',
        start: params.start,
        end: params.end,
        stats: matching.slice(skip, skip + limit).map(({ call_type: _type, ...s }) => s),
      });
    }
    if (req.method === 'GET' && url.pathname === '/v1/request/callback/') {
      if (!params.from || !params.to)
        return send(400, { status: 'error', message: 'Wrong parameters' });
      return send(200, {
        status: 'success',
        from: params.from,
        to: params.to,
        time: Math.floor(Date.now() / 1000),
      });
    }
    return send(404, { status: 'error', message: 'Method not found' });
  }
}
