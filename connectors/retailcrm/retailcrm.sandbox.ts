import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for RetailCRM API v5, limited to what the connector uses. Specs, core
 * e2e tests, the demo and benchmarks run against it, so it validates like the real API,
 * enforces the real rate limits and can inject faults.
 *
 * Recorded `path`s are the full request paths ("/api/v5/telephony/manager",
 * "/api/credentials"), as the wire shows them.
 */

export interface RecordedRequest {
  method: string;
  /** Full path without the query string, e.g. "/api/v5/telephony/call/event". */
  path: string;
  query: Record<string, string>;
  /** Urlencoded body fields; JSON-string fields (event, calls, task, ...) decoded. */
  form: Record<string, unknown>;
  /** Lower-case header names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  /** Arrival time, ms since the epoch. */
  at: number;
}

export interface SandboxUser {
  id: number;
  firstName: string;
  lastName?: string;
  email?: string;
  /** The user's extension code as set in their card. */
  code?: string;
}

export interface SandboxCustomer {
  id: number;
  firstName: string;
  lastName?: string;
  /** Any format; matched by digits, with a leading 8 of 11-digit numbers read as 7. */
  phones: string[];
  managerId?: number;
}

export type SandboxBucket = 'default' | 'telephony';

export interface RetailcrmSandboxOptions {
  apiKey?: string;
  /** Added before every answer; a function gives jitter. */
  latencyMs?: number | (() => number);
  /** Accepted requests per sliding second, per API key and bucket. */
  limits?: { default: number; telephony: number };
  /** Status answered during setOutage(); 500 by default. */
  outageStatus?: number;
  /** Stores the key may use (GET /api/credentials `sitesAvailable`). */
  sites?: string[];
  /** Keep `requests` (turn off for long benchmarks). Default true. */
  recordRequests?: boolean;
}

export interface FaultOptions {
  status: number;
  retryAfterS?: number;
  /** JSON-serialised unless a string. Defaults to a RetailCRM-shaped error for the status. */
  body?: unknown;
  contentType?: string;
}

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const JSON_FIELDS = ['event', 'calls', 'task', 'order', 'integrationModule'];
const MAX_BODY_BYTES = 5 * 1024 * 1024;
const MAX_UPLOAD = 50;
const EVENT_TYPES = ['in', 'out', 'hangup'];
const HANGUP_STATUSES = ['answered', 'busy', 'cancel', 'failed', 'no answered'];
const CALL_RESULTS = ['answered', 'busy', 'failed', 'no answer', 'not allowed', 'unknown'];
const DATE_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;
const TASK_DATE_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/;
const WINDOW_MS = 1000;

const CREDENTIALS = [
  '/api/v5/telephony/manager',
  '/api/v5/telephony/call/event',
  '/api/v5/telephony/calls/upload',
  '/api/v5/tasks/create',
  '/api/v5/orders/create',
  '/api/v5/integration-modules/{code}',
  '/api/v5/integration-modules/{code}/edit',
];

class ValidationFailure extends Error {
  constructor(
    message: string,
    readonly errors?: Record<string, string>,
  ) {
    super(message);
  }
}

/** Digits, with a Russian trunk 8 read as 7: our assumption of how RetailCRM matches. */
export function sandboxPhoneKey(phone: string): string {
  const digits = phone.replace(/\D/g, '');
  return digits.length === 11 && digits.startsWith('8') ? `7${digits.slice(1)}` : digits;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isPositiveInt(value: unknown): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}

function fail(errorMsg: string, status = 400, errors?: Record<string, string>): Reply {
  return {
    status,
    body: errors ? { success: false, errorMsg, errors } : { success: false, errorMsg },
  };
}

function defaultFaultBody(status: number): unknown {
  if (status === 429 || status === 503) return { success: false, errorMsg: 'Rate limit exceeded' };
  if (status === 403) return { success: false, errorMsg: 'Access denied.' };
  if (status === 404) return { success: false, errorMsg: 'Not found' };
  if (status >= 500) return { success: false, errorMsg: 'Internal Server Error' };
  return { success: false, errorMsg: 'Errors in the entity format' };
}

export class RetailcrmSandbox {
  readonly apiKey: string;
  readonly requests: RecordedRequest[] = [];
  rateLimitRejections = 0;

  readonly users = new Map<number, SandboxUser>();
  readonly customers = new Map<number, SandboxCustomer>();
  /** Every call event received, in order, with the form's `site`. */
  readonly events: (Record<string, unknown> & { formSite?: string })[] = [];
  /** History by externalId; a duplicate is reported in `duplicateCalls` and not stored again. */
  readonly uploadedCalls = new Map<string, Record<string, unknown>>();
  readonly tasks: (Record<string, unknown> & { id: number })[] = [];
  readonly orders: (Record<string, unknown> & { id: number })[] = [];
  readonly modules = new Map<string, Record<string, unknown>>();

  private server?: Server;
  private baseUrl = '';
  private readonly options: Required<Omit<RetailcrmSandboxOptions, 'apiKey' | 'latencyMs'>> &
    Pick<RetailcrmSandboxOptions, 'latencyMs'>;
  private readonly faults: FaultOptions[] = [];
  private readonly hangs: number[] = [];
  private outageUntil = 0;
  private outageStatus: number;
  private readonly customersByPhone = new Map<string, SandboxCustomer>();
  private readonly windows = new Map<string, number[]>();
  private readonly maxObserved: Record<SandboxBucket, number> = { default: 0, telephony: 0 };
  private readonly timers = new Set<NodeJS.Timeout>();
  private nextId = 1;

  constructor(options: RetailcrmSandboxOptions = {}) {
    this.apiKey = options.apiKey ?? 'sandbox-key';
    this.options = {
      latencyMs: options.latencyMs,
      limits: options.limits ?? { default: 10, telephony: 40 },
      outageStatus: options.outageStatus ?? 500,
      sites: options.sites ?? [],
      recordRequests: options.recordRequests ?? true,
    };
    this.outageStatus = this.options.outageStatus;
  }

  /** Base URL of the account, e.g. http://127.0.0.1:PORT (the connector's `url`). */
  get url(): string {
    if (!this.baseUrl) throw new Error('RetailcrmSandbox is not started');
    return this.baseUrl;
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

  addUser(user: SandboxUser): SandboxUser {
    this.users.set(user.id, { ...user });
    return user;
  }

  addCustomer(customer: SandboxCustomer): SandboxCustomer {
    const stored = { ...customer, phones: [...customer.phones] };
    this.customers.set(customer.id, stored);
    for (const phone of stored.phones) this.customersByPhone.set(sandboxPhoneKey(phone), stored);
    return stored;
  }

  /** The next `count` requests are answered with this status, whatever they are. */
  failNext(count: number, fault: FaultOptions): void {
    for (let i = 0; i < count; i++) this.faults.push({ ...fault });
  }

  /** The next `count` requests wait `ms` before being handled. */
  hangNext(count: number, ms: number): void {
    for (let i = 0; i < count; i++) this.hangs.push(ms);
  }

  /** Drops every fault and hang still queued. */
  clearFaults(): void {
    this.hangs.length = 0;
    this.faults.length = 0;
    this.outageUntil = 0;
  }

  /** Every request in the next `ms` ms is answered with `status` (default: the outageStatus option). */
  setOutage(ms: number, status = this.options.outageStatus): void {
    this.outageUntil = Date.now() + ms;
    this.outageStatus = status;
  }

  /** The most requests that arrived (accepted or not) in any sliding second of a bucket, per key. */
  maxPerSecondObserved(bucket: SandboxBucket): number {
    return this.maxObserved[bucket];
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const at = Date.now();
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      void this.answer(req, res, raw, at, tooLarge);
    });
  }

  private async answer(
    req: IncomingMessage,
    res: ServerResponse,
    raw: string,
    at: number,
    tooLarge: boolean,
  ): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    const method = (req.method ?? 'GET').toUpperCase();
    const query = Object.fromEntries(url.searchParams);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const { form, badJson } = this.parseForm(raw, headers['content-type']);
    if (this.options.recordRequests) {
      this.requests.push({ method, path: url.pathname, query, form, headers, at });
    }

    let reply: Reply;
    const key =
      headers['x-api-key'] ??
      query.apiKey ??
      (typeof form.apiKey === 'string' ? form.apiKey : undefined);
    // Like the real API, the limit counts requests as they arrive, not as they finish.
    const admitted = key === this.apiKey ? this.admit(key, url.pathname) : true;
    const hang = this.hangs.shift();
    const fault = this.faults.shift();
    const latency =
      typeof this.options.latencyMs === 'function'
        ? this.options.latencyMs()
        : (this.options.latencyMs ?? 0);
    const wait = (hang ?? 0) + latency;
    if (wait > 0) await this.sleep(wait);
    if (res.destroyed || !this.server) return;

    if (tooLarge) reply = fail('Request body too large', 413);
    else if (fault) reply = this.faultReply(fault);
    else if (Date.now() < this.outageUntil)
      reply = { status: this.outageStatus, body: defaultFaultBody(this.outageStatus) };
    else {
      if (!key) reply = fail('"apiKey" is missing.', 403);
      else if (key !== this.apiKey) reply = fail('Wrong "apiKey" value.', 403);
      else if (!admitted) {
        this.rateLimitRejections++;
        reply = { status: 503, body: { success: false, errorMsg: 'Rate limit exceeded' } };
      } else if (badJson) {
        reply = fail('Errors in the entity format', 400, { [badJson]: 'is not valid JSON' });
      } else {
        try {
          reply = this.route(method, url.pathname, query, form);
        } catch (err) {
          reply =
            err instanceof ValidationFailure
              ? fail(err.message, 400, err.errors)
              : fail(`Internal error: ${(err as Error).message}`, 500);
        }
      }
    }
    this.send(res, reply);
  }

  private send(res: ServerResponse, reply: Reply): void {
    const contentType = reply.headers?.['content-type'] ?? 'application/json; charset=utf-8';
    const payload = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
    res.writeHead(reply.status, {
      ...reply.headers,
      'content-type': contentType,
      'content-length': Buffer.byteLength(payload),
    });
    res.end(payload);
  }

  private faultReply(fault: FaultOptions): Reply {
    const headers: Record<string, string> = {};
    if (fault.retryAfterS !== undefined) headers['retry-after'] = String(fault.retryAfterS);
    if (fault.contentType) headers['content-type'] = fault.contentType;
    return { status: fault.status, body: fault.body ?? defaultFaultBody(fault.status), headers };
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  private parseForm(
    raw: string,
    contentType = '',
  ): { form: Record<string, unknown>; badJson?: string } {
    const form: Record<string, unknown> = {};
    let badJson: string | undefined;
    if (!raw || !contentType.includes('application/x-www-form-urlencoded')) return { form };
    for (const [name, value] of new URLSearchParams(raw)) {
      if (JSON_FIELDS.includes(name)) {
        try {
          form[name] = JSON.parse(value);
        } catch {
          form[name] = value;
          badJson ??= name;
        }
      } else {
        form[name] = value;
      }
    }
    return { form, badJson };
  }

  /** Sliding one-second window per key and bucket, like the published 10 / 40 req/s. */
  private readonly arrivals = new Map<string, number[]>();

  private admit(key: string, path: string): boolean {
    const bucket: SandboxBucket = path.startsWith('/api/v5/telephony') ? 'telephony' : 'default';
    const id = `${key}:${bucket}`;
    const now = Date.now();
    let window = this.windows.get(id);
    if (!window) this.windows.set(id, (window = []));
    while (window.length && window[0] <= now - WINDOW_MS) window.shift();
    // Every arrival counts toward what was observed, so a client over the limit shows above it.
    let arrivals = this.arrivals.get(id);
    if (!arrivals) this.arrivals.set(id, (arrivals = []));
    while (arrivals.length && arrivals[0] <= now - WINDOW_MS) arrivals.shift();
    arrivals.push(now);
    this.maxObserved[bucket] = Math.max(this.maxObserved[bucket], arrivals.length);
    if (window.length >= this.options.limits[bucket]) return false;
    window.push(now);
    return true;
  }

  private route(
    method: string,
    path: string,
    query: Record<string, string>,
    form: Record<string, unknown>,
  ): Reply {
    const moduleMatch = /^\/api\/v5\/integration-modules\/([^/]+)(\/edit)?$/.exec(path);
    const routes: Record<string, () => Reply> = {
      'GET /api/credentials': () => this.credentials(),
      'GET /api/v5/telephony/manager': () => this.telephonyManager(query),
      'POST /api/v5/telephony/call/event': () => this.callEvent(form),
      'POST /api/v5/telephony/calls/upload': () => this.callsUpload(form),
      'POST /api/v5/tasks/create': () => this.createTask(form),
      'POST /api/v5/orders/create': () => this.createOrder(form),
    };
    const handler = routes[`${method} ${path}`];
    if (handler) return handler();
    if (moduleMatch) {
      const code = decodeURIComponent(moduleMatch[1]);
      if (moduleMatch[2] && method === 'POST') return this.editModule(code, form);
      if (!moduleMatch[2] && method === 'GET') return this.getModule(code);
      return fail('Method not allowed', 405);
    }
    if (Object.keys(routes).some((route) => route.endsWith(` ${path}`)))
      return fail('Method not allowed', 405);
    return fail('API method not found', 404);
  }

  private credentials(): Reply {
    return {
      status: 200,
      body: {
        success: true,
        credentials: CREDENTIALS,
        siteAccess: 'access_full',
        sitesAvailable: this.options.sites,
      },
    };
  }

  private telephonyManager(query: Record<string, string>): Reply {
    if (!query.phone) return fail("Parameter 'phone' is missing");
    const customer = this.customersByPhone.get(sandboxPhoneKey(query.phone));
    const digits = query.phone.replace(/\D/g, '');
    const links: Record<string, string> = {
      newOrderLink: `${this.baseUrl}/orders/add?phone=${digits}`,
      newCustomerLink: `${this.baseUrl}/customers/add?phone=${digits}`,
    };
    if (!customer) return { status: 200, body: { success: true, links } };
    const body: Record<string, unknown> = { success: true };
    const manager =
      customer.managerId !== undefined ? this.users.get(customer.managerId) : undefined;
    if (manager) body.manager = { ...manager };
    if (query.details === '1') {
      body.customer = {
        id: customer.id,
        firstName: customer.firstName,
        lastName: customer.lastName,
        phones: customer.phones.map((number) => ({ number })),
        managerId: customer.managerId,
      };
      body.links = { ...links, customerLink: `${this.baseUrl}/customers/${customer.id}` };
    }
    return { status: 200, body };
  }

  private knownCodes(): Set<string> {
    const codes = new Set<string>();
    for (const user of this.users.values()) if (user.code) codes.add(user.code);
    for (const module of this.modules.values()) {
      const telephony = (
        module.integrations as { telephony?: { additionalCodes?: { code: string }[] } }
      )?.telephony;
      for (const entry of telephony?.additionalCodes ?? []) codes.add(entry.code);
    }
    return codes;
  }

  private callEvent(form: Record<string, unknown>): Reply {
    const event = this.required(form, 'event');
    if (!isObject(event))
      return fail('Errors in the entity format', 400, { event: 'must be an object' });
    const errors: Record<string, string> = {};
    if (typeof event.phone !== 'string' || !/\d/.test(event.phone))
      errors.phone = 'This value should not be blank.';
    if (!EVENT_TYPES.includes(event.type as string))
      errors.type = `must be one of ${EVENT_TYPES.join(', ')}`;
    if (event.type === 'hangup' && !HANGUP_STATUSES.includes(event.hangupStatus as string)) {
      errors.hangupStatus = `must be one of ${HANGUP_STATUSES.join(', ')}`;
    }
    if (event.type !== 'hangup' && event.hangupStatus !== undefined) {
      errors.hangupStatus = 'only allowed with type hangup';
    }
    if (
      event.codes !== undefined &&
      (!Array.isArray(event.codes) || event.codes.some((c) => typeof c !== 'string'))
    ) {
      errors.codes = 'must be a list of strings';
    }
    if (
      event.userIds !== undefined &&
      (!Array.isArray(event.userIds) || !event.userIds.every(isPositiveInt))
    ) {
      errors.userIds = 'must be a list of integers';
    }
    if (Object.keys(errors).length) return fail('Errors in the entity format', 400, errors);
    const codes = this.knownCodes();
    const notExistCodes = ((event.codes as string[] | undefined) ?? []).filter(
      (c) => !codes.has(c),
    );
    const notExistUsers = ((event.userIds as number[] | undefined) ?? []).filter(
      (id) => !this.users.has(id),
    );
    this.events.push({ ...event, formSite: form.site as string | undefined });
    return { status: 200, body: { success: true, notExistCodes, notExistUsers } };
  }

  private callsUpload(form: Record<string, unknown>): Reply {
    const calls = this.required(form, 'calls');
    if (!Array.isArray(calls))
      return fail('Errors in the entity format', 400, { calls: 'must be a list' });
    if (calls.length === 0 || calls.length > MAX_UPLOAD) {
      return fail('Errors in the entity format', 400, {
        calls: `must hold 1 to ${MAX_UPLOAD} calls`,
      });
    }
    const errors: Record<string, string> = {};
    calls.forEach((call: unknown, i) => {
      const at = `calls[${i}]`;
      if (!isObject(call)) {
        errors[at] = 'must be an object';
        return;
      }
      if (typeof call.date !== 'string' || !DATE_TIME.test(call.date))
        errors[`${at}.date`] = 'must be Y-m-d H:i:s';
      if (call.type !== 'in' && call.type !== 'out') errors[`${at}.type`] = 'must be in or out';
      if (typeof call.phone !== 'string' || !/\d/.test(call.phone))
        errors[`${at}.phone`] = 'must not be blank';
      if (!CALL_RESULTS.includes(call.result as string))
        errors[`${at}.result`] = `must be one of ${CALL_RESULTS.join(', ')}`;
      for (const field of ['duration', 'durationWaiting']) {
        const value = call[field];
        if (
          value !== undefined &&
          (typeof value !== 'number' || !Number.isInteger(value) || value < 0)
        ) {
          errors[`${at}.${field}`] = 'must be a non-negative integer';
        }
      }
      if (call.userId !== undefined && !isPositiveInt(call.userId))
        errors[`${at}.userId`] = 'must be an integer';
      if (call.externalId !== undefined && typeof call.externalId !== 'string') {
        errors[`${at}.externalId`] = 'must be a string';
      }
    });
    if (Object.keys(errors).length) return fail('Errors in the entity format', 400, errors);
    const duplicateCalls: string[] = [];
    let processedCallsCount = 0;
    for (const call of calls as Record<string, unknown>[]) {
      const externalId = call.externalId as string | undefined;
      if (externalId !== undefined && this.uploadedCalls.has(externalId)) {
        duplicateCalls.push(externalId);
        continue;
      }
      this.uploadedCalls.set(externalId ?? `sandbox-${this.nextId++}`, {
        ...call,
        formSite: form.site,
      });
      processedCallsCount++;
    }
    return { status: 200, body: { success: true, processedCallsCount, duplicateCalls } };
  }

  private createTask(form: Record<string, unknown>): Reply {
    const task = this.required(form, 'task');
    if (!isObject(task))
      return fail('Errors in the entity format', 400, { task: 'must be an object' });
    const errors: Record<string, string> = {};
    if (typeof task.text !== 'string' || !task.text.trim())
      errors.text = 'This value should not be blank.';
    if (
      task.datetime !== undefined &&
      (typeof task.datetime !== 'string' || !TASK_DATE_TIME.test(task.datetime))
    ) {
      errors.datetime = 'must be Y-m-d H:i';
    }
    if (task.performerId !== undefined && !this.users.has(task.performerId as number)) {
      errors.performerId = 'user not found';
    }
    this.checkCustomerRef(task.customer, errors);
    if (Object.keys(errors).length) return fail('Errors in the entity format', 400, errors);
    const id = this.nextId++;
    this.tasks.push({ ...task, id, formSite: form.site });
    return { status: 201, body: { success: true, id } };
  }

  private createOrder(form: Record<string, unknown>): Reply {
    const order = this.required(form, 'order');
    if (!isObject(order))
      return fail('Errors in the entity format', 400, { order: 'must be an object' });
    const errors: Record<string, string> = {};
    if (order.managerId !== undefined && !this.users.has(order.managerId as number)) {
      errors.managerId = 'user not found';
    }
    if (order.call !== undefined && typeof order.call !== 'boolean')
      errors.call = 'must be a boolean';
    this.checkCustomerRef(order.customer, errors);
    if (Object.keys(errors).length) return fail('Errors in the entity format', 400, errors);
    const id = this.nextId++;
    const stored = { ...order, id, formSite: form.site };
    this.orders.push(stored);
    return { status: 201, body: { success: true, id, order: { ...order, id } } };
  }

  private checkCustomerRef(ref: unknown, errors: Record<string, string>): void {
    if (ref === undefined) return;
    if (!isObject(ref) || !this.customers.has(ref.id as number))
      errors.customer = 'customer not found';
  }

  private editModule(code: string, form: Record<string, unknown>): Reply {
    const module = this.required(form, 'integrationModule');
    if (!isObject(module)) {
      return fail('Errors in the entity format', 400, { integrationModule: 'must be an object' });
    }
    const errors: Record<string, string> = {};
    if (module.code !== code) errors.code = 'must equal the code in the path';
    for (const field of ['integrationCode', 'name', 'clientId', 'baseUrl']) {
      if (typeof module[field] !== 'string' || !(module[field] as string).trim()) {
        errors[field] = 'This value should not be blank.';
      }
    }
    if (typeof module.logo !== 'string' || !/\.svg(\?|$)/.test(module.logo))
      errors.logo = 'must be an SVG URL';
    const telephony = isObject(module.integrations) ? module.integrations.telephony : undefined;
    if (module.integrations !== undefined && !isObject(telephony)) {
      errors['integrations.telephony'] = 'must be an object';
    }
    const notExistUsersIds: number[] = [];
    if (isObject(telephony)) {
      for (const field of ['makeCallUrl', 'changeUserStatusUrl']) {
        const value = telephony[field];
        if (value !== undefined && (typeof value !== 'string' || !/^https?:\/\//.test(value))) {
          errors[`integrations.telephony.${field}`] = 'must be an absolute URL';
        }
      }
      const codes = telephony.additionalCodes ?? [];
      if (!Array.isArray(codes))
        errors['integrations.telephony.additionalCodes'] = 'must be a list';
      else {
        codes.forEach((entry: unknown, i) => {
          if (!isObject(entry) || !isPositiveInt(entry.userId) || typeof entry.code !== 'string') {
            errors[`integrations.telephony.additionalCodes[${i}]`] =
              'must be {userId: int, code: string}';
          } else if (!this.users.has(entry.userId as number)) {
            notExistUsersIds.push(entry.userId as number);
          }
        });
      }
    }
    if (Object.keys(errors).length) return fail('Errors in the entity format', 400, errors);
    const created = !this.modules.has(code);
    this.modules.set(code, module);
    return { status: created ? 201 : 200, body: { success: true, info: { notExistUsersIds } } };
  }

  private getModule(code: string): Reply {
    const module = this.modules.get(code);
    if (!module) return fail('Not found', 404);
    return { status: 200, body: { success: true, integrationModule: module } };
  }

  private required(form: Record<string, unknown>, field: string): unknown {
    if (form[field] === undefined || form[field] === '') {
      throw new ValidationFailure(`Parameter '${field}' is missing`);
    }
    return form[field];
  }
}

/** What the shared conformance suite needs from a sandbox (structurally its ConformanceFixture). */
export interface RetailcrmConformanceFixture {
  sandbox: RetailcrmSandbox;
  config: { url: string; timeoutMs: number };
  credentials: { apiKey: string };
  badCredentials: { apiKey: string };
  knownPhone: string;
  knownContactId: string;
  knownResponsibleCrmUserId: string;
  unknownPhone: string;
  timeoutMs: number;
  failNext(status: number, retryAfterS?: number): void;
  hangNext(ms: number): void;
  requests(): RecordedRequest[];
  expectedLookupRequests(phone: string): Partial<RecordedRequest>[];
  close(): Promise<void>;
}

/** A started sandbox seeded with one manager and one customer stored in the "8..." spelling. */
export async function retailcrmConformanceFixture(): Promise<RetailcrmConformanceFixture> {
  const sandbox = new RetailcrmSandbox();
  sandbox.addUser({ id: 27, firstName: 'Ivan', lastName: 'Petrov', code: '101' });
  sandbox.addCustomer({
    id: 7,
    firstName: 'Anna',
    lastName: 'Smirnova',
    phones: ['8 (916) 123-45-67'],
    managerId: 27,
  });
  const url = await sandbox.start();
  const timeoutMs = 400;
  return {
    sandbox,
    config: { url, timeoutMs },
    credentials: { apiKey: sandbox.apiKey },
    badCredentials: { apiKey: 'not-the-key' },
    knownPhone: '+79161234567',
    knownContactId: '7',
    knownResponsibleCrmUserId: '27',
    unknownPhone: '+74990001122',
    timeoutMs,
    failNext: (status, retryAfterS) => sandbox.failNext(1, { status, retryAfterS }),
    hangNext: (ms) => sandbox.hangNext(1, ms),
    requests: () => sandbox.requests,
    expectedLookupRequests: (phone) => [
      {
        method: 'GET',
        path: '/api/v5/telephony/manager',
        query: { phone: phone.replace(/\D/g, ''), details: '1', ignoreStatus: '1' },
        form: {},
        headers: { 'x-api-key': sandbox.apiKey },
      },
    ],
    close: () => sandbox.stop(),
  };
}
