import {
  FaultOptions,
  SandboxReply,
  SandboxRequest,
  SandboxServer,
  SlidingWindowLimiter,
} from '../../src/connector-sdk/testing/sandbox';

/**
 * A local stand-in for RetailCRM API v5, limited to what the connector uses, on the SDK's
 * sandbox harness. Specs, core e2e tests, the demo and benchmarks run against it, so it
 * validates like the real API, enforces the real rate limits and can inject faults.
 *
 * Recorded `path`s are the full request paths ("/api/v5/telephony/manager",
 * "/api/credentials"), as the wire shows them; `form` has the JSON-string fields
 * (event, calls, task, ...) decoded.
 */
export type RecordedRequest = SandboxRequest;
export type { FaultOptions };

export interface SandboxUser {
  id: number;
  firstName: string;
  lastName?: string;
  email?: string;
  /** The user's extension code as set in their card. */
  code?: string;
  /** The user's own phone, e.g. a mobile. */
  phone?: string;
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
  /** Added before every request is handled; a function gives jitter. */
  latencyMs?: number | (() => number);
  /** Added after a request is handled, before its answer (see SandboxOptions). */
  replyDelayMs?: number;
  /** Accepted requests per sliding second, per API key and bucket. */
  limits?: { default: number; telephony: number };
  /** Status answered during setOutage(); 500 by default. */
  outageStatus?: number;
  /** Stores the key may use (GET /api/credentials `sitesAvailable`). */
  sites?: string[];
  /** Keep `requests` (turn off for long benchmarks). Default true. */
  recordRequests?: boolean;
}

type Reply = SandboxReply;

const JSON_FIELDS = ['event', 'calls', 'task', 'order', 'integrationModule'];
const ROUTE_PATHS = [
  '/api/credentials',
  '/api/v5/telephony/manager',
  '/api/v5/telephony/call/event',
  '/api/v5/telephony/calls/upload',
  '/api/v5/tasks/create',
  '/api/v5/tasks',
  '/api/v5/orders/create',
  '/api/v5/orders',
];
const MAX_UPLOAD = 50;
const EVENT_TYPES = ['in', 'out', 'hangup'];
const HANGUP_STATUSES = ['answered', 'busy', 'cancel', 'failed', 'no answered'];
const CALL_RESULTS = ['answered', 'busy', 'failed', 'no answer', 'not allowed', 'unknown'];
const DATE_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;
const TASK_DATE_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}$/;

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

export class RetailcrmSandbox extends SandboxServer {
  readonly apiKey: string;
  declare readonly requests: RecordedRequest[];

  readonly users = new Map<number, SandboxUser>();
  readonly customers = new Map<number, SandboxCustomer>();
  /** Every call event received, in order, with the form's `site`. */
  readonly events: (Record<string, unknown> & { formSite?: string })[] = [];
  /** History by externalId; a duplicate is reported in `duplicateCalls` and not stored again. */
  readonly uploadedCalls = new Map<string, Record<string, unknown>>();
  /**
   * How many handled uploads carried each externalId, duplicates included: a call the hub
   * logged twice shows 2 here even though RetailCRM (and uploadedCalls) kept one copy.
   */
  readonly uploadArrivals = new Map<string, number>();
  readonly tasks: (Record<string, unknown> & { id: number })[] = [];
  readonly orders: (Record<string, unknown> & { id: number })[] = [];
  readonly modules = new Map<string, Record<string, unknown>>();

  private readonly limits: { default: number; telephony: number };
  private readonly outageDefault: number;
  private readonly sites: string[];
  private readonly customersByPhone = new Map<string, SandboxCustomer>();
  private nextId = 1;

  constructor(options: RetailcrmSandboxOptions = {}) {
    super({
      latencyMs: options.latencyMs,
      replyDelayMs: options.replyDelayMs,
      recordRequests: options.recordRequests ?? true,
    });
    this.apiKey = options.apiKey ?? 'sandbox-key';
    this.limits = options.limits ?? { default: 10, telephony: 40 };
    this.outageDefault = options.outageStatus ?? 500;
    this.sites = options.sites ?? [];
    // Per API key and bucket, like the published 10 / 40 req/s; only the valid key is counted.
    this.limitWith(
      new SlidingWindowLimiter({
        bucketOf: (req) =>
          this.keyOf(req) !== this.apiKey
            ? null
            : req.path.startsWith('/api/v5/telephony')
              ? 'telephony'
              : 'default',
        limit: (bucket) => this.limits[bucket as SandboxBucket],
        reject: () => ({ status: 503, body: { success: false, errorMsg: 'Rate limit exceeded' } }),
      }),
    );
    this.route('GET', '/api/credentials', () => this.credentials())
      .route('GET', '/api/v5/telephony/manager', (r) => this.telephonyManager(r.query))
      .route('GET', '/api/v5/users', (r) => this.listUsers(r.query))
      .route('POST', '/api/v5/telephony/call/event', (r) => this.callEvent(r.form))
      .route('POST', '/api/v5/telephony/calls/upload', (r) => this.callsUpload(r.form))
      .route('POST', '/api/v5/tasks/create', (r) => this.createTask(r.form))
      .route('GET', '/api/v5/tasks', (r) => this.listTasks(r.query))
      .route('POST', '/api/v5/orders/create', (r) => this.createOrder(r.form))
      .route('GET', '/api/v5/orders', (r) => this.listOrders(r.query))
      .route('POST', /^\/api\/v5\/integration-modules\/[^/]+\/edit$/, (r) =>
        this.editModule(this.moduleCode(r.path), r.form),
      )
      .route('GET', /^\/api\/v5\/integration-modules\/[^/]+$/, (r) =>
        this.getModule(this.moduleCode(r.path)),
      );
  }

  /** Every request in the next `ms` ms is answered with `status` (default: the outageStatus option). */
  override setOutage(ms: number, status = this.outageDefault): void {
    super.setOutage(ms, status);
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

  private keyOf(req: SandboxRequest): string | undefined {
    return (
      req.headers['x-api-key'] ??
      req.query.apiKey ??
      (typeof req.form.apiKey === 'string' ? req.form.apiKey : undefined)
    );
  }

  protected override authorize(req: SandboxRequest): Reply | null {
    const key = this.keyOf(req);
    if (!key) return fail('"apiKey" is missing.', 403);
    if (key !== this.apiKey) return fail('Wrong "apiKey" value.', 403);
    return null;
  }

  protected override faultBody(status: number): unknown {
    return defaultFaultBody(status);
  }

  protected override decodeForm(raw: string): { form: Record<string, unknown>; badField?: string } {
    const form: Record<string, unknown> = {};
    let badField: string | undefined;
    for (const [name, value] of new URLSearchParams(raw)) {
      if (JSON_FIELDS.includes(name)) {
        try {
          form[name] = JSON.parse(value);
        } catch {
          form[name] = value;
          badField ??= name;
        }
      } else {
        form[name] = value;
      }
    }
    return { form, badField };
  }

  protected override badFormReply(field: string): Reply {
    return fail('Errors in the entity format', 400, { [field]: 'is not valid JSON' });
  }

  protected override handlerError(err: unknown): Reply {
    return err instanceof ValidationFailure
      ? fail(err.message, 400, err.errors)
      : fail(`Internal error: ${(err as Error).message}`, 500);
  }

  protected override notFound(req: SandboxRequest): Reply {
    const known =
      /^\/api\/v5\/integration-modules\/[^/]+(\/edit)?$/.test(req.path) ||
      ROUTE_PATHS.includes(req.path);
    return known ? fail('Method not allowed', 405) : fail('API method not found', 404);
  }

  private moduleCode(path: string): string {
    return decodeURIComponent(path.split('/')[4]);
  }

  private credentials(): Reply {
    return {
      status: 200,
      body: {
        success: true,
        credentials: CREDENTIALS,
        siteAccess: 'access_full',
        sitesAvailable: this.sites,
      },
    };
  }

  /** GET /api/v5/users: every user, paged (limit 20, 50 or 100). */
  private listUsers(query: Record<string, string>): Reply {
    const limit = Number(query.limit ?? 20);
    const page = Number(query.page ?? 1);
    if (![20, 50, 100].includes(limit)) return fail('Limit must be 20, 50 or 100');
    if (!Number.isInteger(page) || page < 1) return fail('Page must be a positive integer');
    const all = [...this.users.values()];
    const users = all.slice((page - 1) * limit, page * limit).map((u) => ({
      id: u.id,
      firstName: u.firstName,
      lastName: u.lastName,
      email: u.email,
      phone: u.phone,
      active: true,
      isManager: true,
    }));
    const totalPageCount = Math.max(1, Math.ceil(all.length / limit));
    return {
      status: 200,
      body: {
        success: true,
        pagination: { limit, totalCount: all.length, currentPage: page, totalPageCount },
        users,
      },
    };
  }

  private telephonyManager(query: Record<string, string>): Reply {
    if (!query.phone) return fail("Parameter 'phone' is missing");
    const customer = this.customersByPhone.get(sandboxPhoneKey(query.phone));
    const digits = query.phone.replace(/\D/g, '');
    const links: Record<string, string> = {
      newOrderLink: `${this.url}/orders/add?phone=${digits}`,
      newCustomerLink: `${this.url}/customers/add?phone=${digits}`,
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
      body.links = { ...links, customerLink: `${this.url}/customers/${customer.id}` };
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
      if (externalId !== undefined)
        this.uploadArrivals.set(externalId, (this.uploadArrivals.get(externalId) ?? 0) + 1);
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
    if (order.externalId !== undefined) {
      if (typeof order.externalId !== 'string' || !order.externalId.trim())
        errors.externalId = 'This value should not be blank.';
      else if (this.orders.some((o) => o.externalId === order.externalId))
        errors.externalId = 'Order with this externalId already exists.';
    }
    this.checkCustomerRef(order.customer, errors);
    if (Object.keys(errors).length) return fail('Errors in the entity format', 400, errors);
    const id = this.nextId++;
    const stored = { ...order, id, formSite: form.site };
    this.orders.push(stored);
    return { status: 201, body: { success: true, id, order: { ...order, id } } };
  }

  /** GET /tasks: `filter[text]` matches a substring of the text (our assumption), newest first. */
  private listTasks(query: Record<string, string>): Reply {
    const text = query['filter[text]'];
    const limit = Math.min(Number(query.limit ?? 20) || 20, 100);
    const found = this.tasks
      .filter((t) => text === undefined || String(t.text ?? '').includes(text))
      .reverse()
      .slice(0, limit);
    return {
      status: 200,
      body: { success: true, pagination: { limit, totalCount: found.length }, tasks: found },
    };
  }

  /** GET /orders: `filter[externalIds][]` selects orders by externalId. */
  private listOrders(query: Record<string, string>): Reply {
    const wanted = query['filter[externalIds][]'];
    const limit = Math.min(Number(query.limit ?? 20) || 20, 100);
    const found = this.orders
      .filter((o) => wanted === undefined || o.externalId === wanted)
      .reverse()
      .slice(0, limit);
    return {
      status: 200,
      body: { success: true, pagination: { limit, totalCount: found.length }, orders: found },
    };
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
