import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SandboxLimiter } from './limiters';
import type { SandboxReply, SandboxRequest } from './sandbox-wire';

/**
 * The harness a CRM sandbox is built on: a loopback HTTP server that records every request,
 * injects faults and latency, and enforces rate limits the way a CRM does. A sandbox adds
 * only its routes and the CRM's own replies.
 */

export { LeakyBucketLimiter, SlidingWindowLimiter } from './limiters';
export type { SandboxLimiter } from './limiters';
export type { SandboxReply, SandboxRequest } from './sandbox-wire';

export type SandboxHandler = (req: SandboxRequest) => SandboxReply | Promise<SandboxReply>;

export interface FaultOptions {
  status: number;
  retryAfterS?: number;
  /** JSON-serialised unless a string; defaults to the sandbox's `faultBody(status)`. */
  body?: unknown;
  contentType?: string;
}

export interface SandboxOptions {
  /** Added before every request is handled; a function gives jitter. */
  latencyMs?: number | (() => number);
  /**
   * Added after a request is handled, before its answer: a client that goes away meanwhile
   * has changed the CRM without learning it.
   */
  replyDelayMs?: number;
  /** Keep `requests` (turn off for long benchmarks). Default true. */
  recordRequests?: boolean;
  maxBodyBytes?: number;
}

const DEFAULT_MAX_BODY = 5 * 1024 * 1024;
const WINDOW_MS = 1000;

function isJson(contentType: string | undefined): boolean {
  return /^application\/(.+\+)?json\b/i.test(contentType ?? '');
}

export class SandboxServer {
  readonly requests: SandboxRequest[] = [];
  /** Requests refused for going over a rate limit. */
  rateLimitRejections = 0;

  private server?: Server;
  private baseUrl = '';
  private readonly routes: { method: string; path: string | RegExp; handler: SandboxHandler }[] =
    [];
  private readonly faults: FaultOptions[] = [];
  private readonly hangs: { ms: number; path?: string }[] = [];
  private readonly lostReplies: (string | undefined)[] = [];
  private outageUntil = 0;
  private outageStatus = 500;
  private limiter: SandboxLimiter | null = null;
  private readonly arrivals = new Map<string, number[]>();
  private readonly maxObserved = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();

  constructor(protected readonly sandboxOptions: SandboxOptions = {}) {}

  /** Base URL, e.g. http://127.0.0.1:PORT. */
  get url(): string {
    if (!this.baseUrl) throw new Error(`${this.constructor.name} is not started`);
    return this.baseUrl;
  }

  route(method: string, path: string | RegExp, handler: SandboxHandler): this {
    this.routes.push({ method: method.toUpperCase(), path, handler });
    return this;
  }

  limitWith(limiter: SandboxLimiter): this {
    this.limiter = limiter;
    return this;
  }

  async start(port = 0): Promise<string> {
    if (this.server) return this.baseUrl;
    const server = createServer((req, res) => this.onRequest(req, res));
    server.keepAliveTimeout = 30_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    // Hung and keep-alive sockets would hold close() open.
    server.closeAllConnections();
    await closed;
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  /** The next `count` requests are answered with this fault, whatever they are. */
  failNext(count: number, fault: FaultOptions): void {
    for (let i = 0; i < count; i++) this.faults.push({ ...fault });
  }

  /** The next `count` requests (to `path` only, when given) wait `ms` before being handled. */
  hangNext(count: number, ms: number, path?: string): void {
    for (let i = 0; i < count; i++) this.hangs.push({ ms, path });
  }

  /**
   * The next `count` requests (to `path` only, when given) are handled, and then their
   * connection is cut without an answer: the CRM did the work, the client cannot know it.
   */
  loseReplyNext(count: number, path?: string): void {
    for (let i = 0; i < count; i++) this.lostReplies.push(path);
  }

  /** Every request in the next `ms` ms is answered with `status`. */
  setOutage(ms: number, status = 500): void {
    this.outageUntil = Date.now() + ms;
    this.outageStatus = status;
  }

  /** Drops every fault, hang and outage still pending. */
  clearFaults(): void {
    this.hangs.length = 0;
    this.faults.length = 0;
    this.lostReplies.length = 0;
    this.outageUntil = 0;
  }

  /** The most requests that arrived (admitted or not) in any sliding second of a bucket. */
  maxPerSecondObserved(bucket: string): number {
    return this.maxObserved.get(bucket) ?? 0;
  }

  /** The CRM's error body for an injected fault or outage. */
  protected faultBody(status: number): unknown {
    return { error: `HTTP ${status}` };
  }

  /** Decodes an urlencoded body (a CRM may JSON-encode some fields: override to decode them). */
  protected decodeForm(raw: string): { form: Record<string, unknown>; badField?: string } {
    return { form: Object.fromEntries(new URLSearchParams(raw)) };
  }

  /** The reply to a well-formed form field that failed to decode (see decodeForm). */
  protected badFormReply(field: string): SandboxReply {
    return { status: 400, body: { error: `${field} is not valid` } };
  }

  /** Checks the request's credentials; a reply refuses it, null lets it through. */
  protected authorize(_req: SandboxRequest): SandboxReply | null {
    return null;
  }

  /** The reply when no route matches. */
  protected notFound(req: SandboxRequest): SandboxReply {
    const other = this.routes.some((r) => this.matches(r.path, req.path));
    return other
      ? { status: 405, body: { error: 'Method not allowed' } }
      : { status: 404, body: { error: 'Not found' } };
  }

  protected sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  private matches(path: string | RegExp, actual: string): boolean {
    return typeof path === 'string' ? path === actual : path.test(actual);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const at = Date.now();
    const chunks: Buffer[] = [];
    const max = this.sandboxOptions.maxBodyBytes ?? DEFAULT_MAX_BODY;
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      void this.answer(req, res, Buffer.concat(chunks).toString('utf8'), at, tooLarge).catch(() =>
        res.destroy(),
      );
    });
  }

  private parse(
    req: IncomingMessage,
    raw: string,
    at: number,
  ): SandboxRequest & { badField?: string } {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const contentType = headers['content-type'];
    let form: Record<string, unknown> = {};
    let json: unknown;
    let badField: string | undefined;
    if (raw && /application\/x-www-form-urlencoded/i.test(contentType ?? '')) {
      ({ form, badField } = this.decodeForm(raw));
    } else if (raw && isJson(contentType)) {
      try {
        json = JSON.parse(raw);
      } catch {
        badField = 'body';
      }
    }
    return {
      method: (req.method ?? 'GET').toUpperCase(),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      rawBody: raw,
      form,
      json,
      at,
      badField,
    };
  }

  private observe(bucket: string, now: number): void {
    let arrivals = this.arrivals.get(bucket);
    if (!arrivals) this.arrivals.set(bucket, (arrivals = []));
    while (arrivals.length && arrivals[0] <= now - WINDOW_MS) arrivals.shift();
    arrivals.push(now);
    this.maxObserved.set(bucket, Math.max(this.maxPerSecondObserved(bucket), arrivals.length));
  }

  private async answer(
    req: IncomingMessage,
    res: ServerResponse,
    raw: string,
    at: number,
    tooLarge: boolean,
  ): Promise<void> {
    const { badField, ...request } = this.parse(req, raw, at);
    if (this.sandboxOptions.recordRequests ?? true) this.requests.push(request);
    // Like real CRMs, limits count requests as they arrive, not as they finish.
    const bucket = this.limiter?.bucketOf(request) ?? null;
    let admitted = true;
    if (bucket !== null && this.limiter) {
      this.observe(bucket, at);
      admitted = this.limiter.admit(bucket, at);
    }
    const hangAt = this.hangs.findIndex((h) => h.path === undefined || h.path === request.path);
    const hang = hangAt >= 0 ? this.hangs.splice(hangAt, 1)[0].ms : undefined;
    const fault = this.faults.shift();
    const latency =
      typeof this.sandboxOptions.latencyMs === 'function'
        ? this.sandboxOptions.latencyMs()
        : (this.sandboxOptions.latencyMs ?? 0);
    const wait = (hang ?? 0) + latency;
    if (wait > 0) await this.sleep(wait);
    if (res.destroyed || !this.server) return;

    let reply: SandboxReply;
    if (tooLarge) reply = { status: 413, body: { error: 'Request body too large' } };
    else if (fault) reply = this.faultReply(fault);
    else if (Date.now() < this.outageUntil)
      reply = { status: this.outageStatus, body: this.faultBody(this.outageStatus) };
    else {
      const refused = this.authorize(request);
      if (refused) reply = refused;
      else if (!admitted && this.limiter) {
        this.rateLimitRejections++;
        reply = this.limiter.reject(request);
      } else if (badField) reply = this.badFormReply(badField);
      else {
        reply = await this.dispatch(request);
        const lost = this.lostReplies.findIndex((p) => p === undefined || p === request.path);
        if (lost >= 0) {
          this.lostReplies.splice(lost, 1);
          req.socket.destroy();
          return;
        }
        const replyDelay = this.sandboxOptions.replyDelayMs ?? 0;
        if (replyDelay > 0) await this.sleep(replyDelay);
        if (res.destroyed || !this.server) return;
      }
    }
    this.send(res, reply);
  }

  private async dispatch(req: SandboxRequest): Promise<SandboxReply> {
    const route = this.routes.find(
      (r) => r.method === req.method && this.matches(r.path, req.path),
    );
    if (!route) return this.notFound(req);
    try {
      return await route.handler(req);
    } catch (err) {
      return this.handlerError(err);
    }
  }

  /** The reply when a route throws (a sandbox may throw its own validation errors). */
  protected handlerError(err: unknown): SandboxReply {
    return { status: 500, body: { error: `sandbox: ${(err as Error).message}` } };
  }

  private faultReply(fault: FaultOptions): SandboxReply {
    const headers: Record<string, string> = {};
    if (fault.retryAfterS !== undefined) headers['retry-after'] = String(fault.retryAfterS);
    if (fault.contentType) headers['content-type'] = fault.contentType;
    return { status: fault.status, body: fault.body ?? this.faultBody(fault.status), headers };
  }

  private send(res: ServerResponse, reply: SandboxReply): void {
    const headers = { ...(reply.headers ?? {}) };
    if (reply.status === 204 || reply.body === undefined) {
      res.writeHead(reply.status, headers);
      res.end();
      return;
    }
    const payload = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
    headers['content-type'] ??= 'application/json; charset=utf-8';
    headers['content-length'] = String(Buffer.byteLength(payload));
    res.writeHead(reply.status, headers);
    res.end(payload);
  }
}
