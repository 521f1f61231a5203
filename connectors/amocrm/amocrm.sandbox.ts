import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import {
  FaultOptions,
  SandboxOptions,
  SandboxReply,
  SandboxRequest,
  SandboxServer,
  SlidingWindowLimiter,
} from '../../src/connector-sdk/testing/sandbox';
import type { ConformanceFixture } from '../../src/connector-sdk/testing/conformance';

/**
 * A local stand-in for amoCRM API v4 (plus the v2 events endpoint), limited to what the
 * connector uses, on the SDK's sandbox harness. It speaks amoCRM's wire format: OAuth 2 with
 * single-use codes and refresh tokens, problem+json errors with `validation-errors`, 204 for
 * "nothing found", 7 requests per second per account, and the CRM's own rules for finding the
 * card a call belongs to.
 *
 * Stored users and contacts use camelCase, as tests seed them; stored leads, calls and
 * incoming leads keep the wire's snake_case, as they record what amoCRM was sent.
 */
export type { FaultOptions };

export type AmocrmAccountState = 'active' | 'unpaid' | 'blocked';

export type AmocrmSandboxOptions = SandboxOptions & {
  /** Seconds each access token lives; 86400 by default. */
  accessTokenTtlS?: number;
  /** Admitted /api/ requests per sliding second for the account; 7 by default. */
  requestsPerSecond?: number;
  /** The account's host, what consent's `referer` names; example.amocrm.ru by default. */
  accountHost?: string;
};

export interface StoredUser {
  id: number;
  name: string;
  email?: string;
}

export interface StoredContact {
  id: number;
  name: string;
  firstName: string;
  lastName: string;
  /** As stored, in any format: amoCRM searches them as typed. */
  phones: string[];
  responsibleUserId: number;
  leadIds: number[];
  /** Unix seconds, sandbox clock. */
  createdAt: number;
}

export interface StoredPipeline {
  id: number;
  name: string;
  statuses: number[];
}

/** A lead as created, in the wire's names. */
export interface StoredLead {
  id: number;
  name: string;
  price: number;
  responsible_user_id: number;
  pipeline_id: number;
  status_id: number;
  /** The main (first) contact, or null. */
  contact_id: number | null;
  contact_ids: number[];
  tags: { name: string }[];
  /** Unix seconds, sandbox clock. */
  created_at: number;
}

/** A call item as sent to POST /api/v4/calls, with where amoCRM put it. */
export interface StoredCall {
  id: number;
  entity_id: number;
  entity_type: 'lead' | 'contact';
  direction: 'inbound' | 'outbound';
  phone: string;
  duration: number;
  source: string;
  uniq?: string;
  [field: string]: unknown;
}

/** An incoming lead as GET /api/v4/leads/unsorted shows it. */
export interface StoredUnsorted {
  uid: string;
  source_uid: string;
  source_name: string;
  category: 'sip';
  pipeline_id: number;
  created_at: number;
  request_id?: string;
  metadata: Record<string, unknown>;
  _embedded: { leads: { id: number }[]; contacts: { id: number }[] };
}

interface FieldError {
  code: string;
  path: string;
  detail: string;
}

interface ItemErrors {
  request_id: string;
  errors: FieldError[];
}

interface Grant {
  redirectUri: string;
  revoked: boolean;
}

type Reply = SandboxReply;
type Json = Record<string, unknown>;

const PROBLEM_JSON = 'application/problem+json';
const CODE_TTL_MS = 20 * 60 * 1000;
const PHONE_FIELD_ID = 264911;
const PHONE_ENUM_ID = 508999;
const PHONE_ENUM_CODES = ['WORK', 'WORKDD', 'MOB', 'FAX', 'HOME', 'OTHER'];
const MAX_PAGE = 250;
const DEFAULT_PAGE = 50;
const MAX_CALLS = 50;
const MAX_COMPLEX = 50;
const MAX_UNSORTED = 250;
const MAX_STRING = 255;
const CALL_DIRECTIONS = ['inbound', 'outbound'];
const CALL_STATUSES = [1, 2, 3, 4, 5, 6, 7];
const BAD_REQUEST =
  'The request is missing a required parameter, includes an invalid parameter value, ' +
  'includes a parameter more than once, or is otherwise malformed.';
const BAD_GRANT =
  'The provided authorization grant (e.g., authorization code, resource owner credentials) ' +
  'or refresh token is invalid, expired, revoked, does not match the redirection URI used in ' +
  'the authorization request, or was issued to another client.';

/** An amoCRM error: problem+json with the status's title. */
function problem(status: number, detail: string, extra: Json = {}): Reply {
  return {
    status,
    headers: { 'content-type': PROBLEM_JSON },
    body: {
      title: STATUS_CODES[status] ?? 'Error',
      type: `https://httpstatus.es/${status}`,
      status,
      detail,
      ...extra,
    },
  };
}

function invalid(errors: ItemErrors[]): Reply {
  return problem(400, 'Request validation failed', { 'validation-errors': errors });
}

/** Thrown by a route to answer with `reply`. */
class Refusal extends Error {
  constructor(readonly reply: Reply) {
    super(`HTTP ${reply.status}`);
  }
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value);
}

function isHttpUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    return ['http:', 'https:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

function digitsOf(value: string): string {
  return value.replace(/\D/g, '');
}

function err(code: string, path: string, detail: string): FieldError {
  return { code, path, detail };
}

/** A string field: required means present and non-blank. */
function checkString(
  errors: FieldError[],
  value: unknown,
  path: string,
  opts: { required?: boolean; max?: number; allowEmpty?: boolean } = {},
): void {
  if (value === undefined || value === null) {
    if (opts.required) errors.push(err('NotBlank', path, 'This value should not be blank.'));
    return;
  }
  if (typeof value !== 'string') {
    errors.push(err('InvalidType', path, 'This value should be of type string.'));
  } else if (!opts.allowEmpty && !value.trim()) {
    errors.push(err('NotBlank', path, 'This value should not be blank.'));
  } else if (value.length > (opts.max ?? MAX_STRING)) {
    errors.push(err('Length', path, `This value is too long (${opts.max ?? MAX_STRING} max).`));
  }
}

function checkInt(
  errors: FieldError[],
  value: unknown,
  path: string,
  opts: { required?: boolean; min?: number } = {},
): void {
  if (value === undefined || value === null) {
    if (opts.required) errors.push(err('NotBlank', path, 'This value should not be blank.'));
  } else if (!isInt(value)) {
    errors.push(err('InvalidType', path, 'This value should be of type int.'));
  } else if (opts.min !== undefined && value < opts.min) {
    errors.push(err('Range', path, `This value should be ${opts.min} or more.`));
  }
}

function collect(
  items: unknown[],
  check: (item: unknown, i: number) => FieldError[],
): Reply | null {
  const failed: ItemErrors[] = [];
  items.forEach((item, i) => {
    const errors = check(item, i);
    if (errors.length) failed.push({ request_id: String(i), errors });
  });
  return failed.length ? invalid(failed) : null;
}

function itemsOf(req: SandboxRequest, max: number): unknown[] {
  if (!Array.isArray(req.json))
    throw new Refusal(problem(400, 'Request body must be a JSON array'));
  if (req.json.length === 0 || req.json.length > max) {
    throw new Refusal(problem(400, `Request must hold 1 to ${max} items`));
  }
  return req.json;
}

function withList(query: Record<string, string>): string[] {
  return (query.with ?? '').split(',').map((w) => w.trim());
}

function randomToken(prefix = ''): string {
  return `${prefix}${randomBytes(32).toString('hex')}`;
}

export class AmocrmSandbox extends SandboxServer {
  readonly clientId = 'amo-client-1';
  readonly clientSecret = randomBytes(32).toString('base64url');
  readonly accountHost: string;
  readonly accountId = 30001234;
  readonly requestsPerSecond: number;

  /** Seconds each newly issued access token lives. */
  accessTokenTtlS: number;
  /** Delay of the token endpoint, so concurrent refreshes overlap. */
  tokenLatencyMs = 0;
  /** Added to Date.now() for the sandbox clock: ages codes and tokens without waiting. */
  clockOffsetMs = 0;
  accountState: AmocrmAccountState = 'active';

  /** Token endpoint requests by grant type, refused ones included. */
  readonly grants = { authorization_code: 0, refresh_token: 0 };
  /** Refresh requests that carried an already spent refresh token. */
  reusedRefreshTokens = 0;

  readonly users = new Map<number, StoredUser>();
  readonly contacts = new Map<number, StoredContact>();
  readonly pipelines = new Map<number, StoredPipeline>();
  readonly leads: StoredLead[] = [];
  /** Screen pops asked for with POST /api/v2/events, one per item. */
  readonly popups: { phone: string; users: number[]; at: number }[] = [];
  /** Every accepted call item; amoCRM does not deduplicate, neither does this. */
  readonly calls: StoredCall[] = [];
  readonly unsorted: StoredUnsorted[] = [];

  private readonly codes = new Map<
    string,
    { redirectUri: string; issuedAt: number; used: boolean }
  >();
  private readonly grantsIssued = new Set<Grant>();
  private readonly accessTokens = new Map<string, { grant: Grant; expiresAt: number }>();
  private readonly refreshTokens = new Map<string, { grant: Grant; spent: boolean }>();
  private readonly longLived = new Set<string>();
  private nextContactId = 9000001;
  private nextLeadId = 20000001;
  private nextCallId = 70000001;

  constructor(options: AmocrmSandboxOptions = {}) {
    const { accessTokenTtlS, requestsPerSecond, accountHost, ...sandboxOptions } = options;
    super(sandboxOptions);
    this.accessTokenTtlS = accessTokenTtlS ?? 86400;
    this.requestsPerSecond = requestsPerSecond ?? 7;
    this.accountHost = accountHost ?? 'example.amocrm.ru';
    this.addPipeline({ id: 3166396, name: 'Sales', statuses: [31666001, 142, 143] });
    // One window for the whole account; the token endpoint and refused tokens are not counted.
    this.limitWith(
      new SlidingWindowLimiter({
        bucketOf: (req) =>
          req.path.startsWith('/api/') && this.bearerRefusal(req) === null ? 'default' : null,
        limit: () => this.requestsPerSecond,
        reject: () => problem(429, 'Too many requests per second'),
      }),
    );
    this.route('POST', '/oauth2/access_token', (r) => this.tokenEndpoint(r))
      .route('GET', '/api/v4/account', () => this.account())
      .route('GET', '/api/v4/users', (r) => this.listUsers(r))
      .route('GET', '/api/v4/contacts', (r) => this.findContacts(r))
      .route('POST', '/api/v4/contacts', (r) => this.createContacts(r))
      .route('POST', '/api/v2/events', (r) => this.addEvents(r))
      .route('POST', '/api/v4/calls', (r) => this.addCalls(r))
      .route('POST', '/api/v4/leads/unsorted/sip', (r) => this.addUnsorted(r))
      .route('GET', '/api/v4/leads/unsorted', (r) => this.listUnsorted(r))
      .route('POST', '/api/v4/leads/complex', (r) => this.addComplexLeads(r))
      .route('GET', '/api/v4/leads', (r) => this.findLeads(r));
  }

  /** Alias of accessTokenTtlS (the name an OAuth token response uses). */
  get expiresIn(): number {
    return this.accessTokenTtlS;
  }

  set expiresIn(seconds: number) {
    this.accessTokenTtlS = seconds;
  }

  /** The sandbox clock, ms since the epoch. */
  now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  /** What an admin's "Allow" produces: a single-use code for this redirect_uri, valid 20 min. */
  consent(redirectUri: string): { code: string; referer: string } {
    const code = randomToken('def50200');
    this.codes.set(code, { redirectUri, issuedAt: this.now(), used: false });
    return { code, referer: this.accountHost };
  }

  /** A private integration's long-lived token: a bearer without refresh, until revokeAll(). */
  issueLongLivedToken(): string {
    const token = randomToken();
    this.longLived.add(token);
    return token;
  }

  /**
   * The disposable token amoCRM gives a widget's `$authorizedAjax` for the user: a JWT, HS256
   * signed with the integration's secret key, addressed to `audience` (the hub's origin),
   * valid for `ttlS` from the sandbox clock. `claims` overrides or adds claims.
   */
  disposableToken(
    userId: number,
    audience: string,
    o: { ttlS?: number; claims?: Record<string, unknown>; secret?: string } = {},
  ): string {
    const nowS = this.nowS();
    const payload = {
      iss: `https://${this.accountHost}`,
      aud: audience,
      jti: randomUUID(),
      iat: nowS,
      nbf: nowS,
      exp: nowS + (o.ttlS ?? 900),
      account_id: this.accountId,
      subdomain: this.accountHost.split('.')[0],
      client_uuid: this.clientId,
      user_id: userId,
      is_admin: false,
      ...o.claims,
    };
    const part = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const unsigned = `${part({ typ: 'JWT', alg: 'HS256' })}.${part(payload)}`;
    const signature = createHmac('sha256', o.secret ?? this.clientSecret)
      .update(unsigned)
      .digest('base64url');
    return `${unsigned}.${signature}`;
  }

  /** An admin removed the integration: nothing issued so far is accepted. */
  revokeAll(): void {
    for (const grant of this.grantsIssued) grant.revoked = true;
    this.longLived.clear();
  }

  addUser(user: StoredUser): StoredUser {
    const stored = { ...user };
    this.users.set(user.id, stored);
    return stored;
  }

  addPipeline(pipeline: StoredPipeline): StoredPipeline {
    const stored = { ...pipeline, statuses: [...pipeline.statuses] };
    this.pipelines.set(pipeline.id, stored);
    return stored;
  }

  addContact(contact: {
    id?: number;
    name: string;
    phones: string[];
    responsibleUserId: number;
    leadIds?: number[];
  }): StoredContact {
    const id = contact.id ?? this.nextContactId++;
    if (id >= this.nextContactId) this.nextContactId = id + 1;
    const stored: StoredContact = {
      id,
      name: contact.name,
      firstName: '',
      lastName: '',
      phones: [...contact.phones],
      responsibleUserId: contact.responsibleUserId,
      leadIds: [...(contact.leadIds ?? [])],
      createdAt: this.nowS(),
    };
    this.contacts.set(id, stored);
    return stored;
  }

  callsWithUniq(uniq: string): StoredCall[] {
    return this.calls.filter((c) => c.uniq === uniq);
  }

  /** Injected faults answer in problem+json unless the test brings its own body. */
  override failNext(count: number, fault: FaultOptions): void {
    super.failNext(
      count,
      fault.body === undefined && !fault.contentType
        ? { ...fault, contentType: PROBLEM_JSON }
        : fault,
    );
  }

  protected override faultBody(status: number): unknown {
    return problem(status, `HTTP ${status}`).body;
  }

  protected override authorize(req: SandboxRequest): Reply | null {
    if (!req.path.startsWith('/api/')) return null;
    const refusal = this.bearerRefusal(req);
    if (refusal) return problem(401, refusal);
    if (this.accountState === 'unpaid') return problem(402, 'Account is not paid');
    if (this.accountState === 'blocked') return problem(403, 'Account is blocked');
    return null;
  }

  protected override badFormReply(_field: string): Reply {
    return problem(400, 'Request body is not valid JSON');
  }

  protected override handlerError(error: unknown): Reply {
    return error instanceof Refusal
      ? error.reply
      : problem(500, `sandbox: ${(error as Error).message}`);
  }

  protected override notFound(_req: SandboxRequest): Reply {
    return problem(404, 'Not found');
  }

  private nowS(): number {
    return Math.floor(this.now() / 1000);
  }

  private defaultUserId(): number {
    return this.users.keys().next().value ?? 0;
  }

  /** Why the request's bearer token is refused, or null when it is accepted. */
  private bearerRefusal(req: SandboxRequest): string | null {
    const match = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!match) return 'Authorization header with a Bearer token is required';
    const token = match[1];
    if (this.longLived.has(token)) return null;
    const access = this.accessTokens.get(token);
    if (!access || access.grant.revoked) return 'Access token is invalid or has been revoked';
    if (access.expiresAt <= this.now()) return 'Access token has expired';
    return null;
  }

  // --- OAuth ---

  private async tokenEndpoint(req: SandboxRequest): Promise<Reply> {
    if (this.tokenLatencyMs > 0) await this.sleep(this.tokenLatencyMs);
    if (!isObject(req.json)) return problem(400, BAD_REQUEST, { hint: 'Body must be JSON' });
    const p = req.json;
    if (p.grant_type === 'authorization_code') this.grants.authorization_code++;
    if (p.grant_type === 'refresh_token') this.grants.refresh_token++;
    if (p.client_id !== this.clientId || p.client_secret !== this.clientSecret) {
      return problem(401, 'Client authentication failed', {
        hint: 'Client authentication failed',
      });
    }
    if (p.grant_type === 'authorization_code') return this.exchangeCode(p);
    if (p.grant_type === 'refresh_token') return this.refresh(p);
    return problem(
      400,
      'The authorization grant type is not supported by the authorization server.',
      {
        hint: 'Check the `grant_type` parameter',
      },
    );
  }

  private exchangeCode(p: Json): Reply {
    for (const field of ['code', 'redirect_uri']) {
      if (typeof p[field] !== 'string' || !p[field]) {
        return problem(400, BAD_REQUEST, { hint: `Check the \`${field}\` parameter` });
      }
    }
    const code = this.codes.get(p.code as string);
    if (!code || code.used) {
      return problem(400, BAD_GRANT, { hint: 'Authorization code has been revoked' });
    }
    if (this.now() - code.issuedAt > CODE_TTL_MS) {
      return problem(400, BAD_GRANT, { hint: 'Authorization code has expired' });
    }
    if (code.redirectUri !== p.redirect_uri) {
      return problem(400, BAD_GRANT, { hint: 'Invalid redirect URI' });
    }
    code.used = true;
    const grant: Grant = { redirectUri: code.redirectUri, revoked: false };
    this.grantsIssued.add(grant);
    return this.issue(grant);
  }

  private refresh(p: Json): Reply {
    for (const field of ['refresh_token', 'redirect_uri']) {
      if (typeof p[field] !== 'string' || !p[field]) {
        return problem(400, BAD_REQUEST, { hint: `Check the \`${field}\` parameter` });
      }
    }
    const stored = this.refreshTokens.get(p.refresh_token as string);
    if (!stored) {
      return problem(401, 'The refresh token is invalid.', {
        hint: 'Cannot decrypt the refresh token',
      });
    }
    if (stored.spent) {
      // A spent refresh token is a replay: amoCRM revokes the grant it came from.
      this.reusedRefreshTokens++;
      stored.grant.revoked = true;
      return problem(401, 'The refresh token is invalid.', { hint: 'Token has been revoked' });
    }
    if (stored.grant.revoked) {
      return problem(401, 'The refresh token is invalid.', { hint: 'Token has been revoked' });
    }
    if (stored.grant.redirectUri !== p.redirect_uri) {
      return problem(400, BAD_GRANT, { hint: 'Invalid redirect URI' });
    }
    stored.spent = true;
    return this.issue(stored.grant);
  }

  private issue(grant: Grant): Reply {
    const accessToken = randomToken();
    const refreshToken = randomToken('def50200');
    this.accessTokens.set(accessToken, {
      grant,
      expiresAt: this.now() + this.accessTokenTtlS * 1000,
    });
    this.refreshTokens.set(refreshToken, { grant, spent: false });
    return {
      status: 200,
      body: {
        token_type: 'Bearer',
        expires_in: this.accessTokenTtlS,
        access_token: accessToken,
        refresh_token: refreshToken,
        server_time: this.nowS(),
      },
    };
  }

  // --- paging ---

  private page<T>(
    items: T[],
    req: SandboxRequest,
  ): { slice: T[]; page: number; links: Record<string, { href: string }> } {
    const limit = req.query.limit === undefined ? DEFAULT_PAGE : Number(req.query.limit);
    const page = req.query.page === undefined ? 1 : Number(req.query.page);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
      throw new Refusal(problem(400, `limit must be an integer from 1 to ${MAX_PAGE}`));
    }
    if (!Number.isInteger(page) || page < 1) {
      throw new Refusal(problem(400, 'page must be an integer from 1'));
    }
    const href = (n: number) => {
      const query = new URLSearchParams({ ...req.query, page: String(n), limit: String(limit) });
      return { href: `${this.url}${req.path}?${query.toString()}` };
    };
    const links: Record<string, { href: string }> = { self: href(page) };
    if (items.length > page * limit) links.next = href(page + 1);
    if (page > 1) links.prev = href(page - 1);
    return { slice: items.slice((page - 1) * limit, page * limit), page, links };
  }

  /** A page of a list as amoCRM answers it: 204 when empty, else `_embedded[name]`. */
  private listed<T>(
    items: T[],
    req: SandboxRequest,
    name: string,
    render: (item: T) => unknown,
    total = false,
  ): Reply {
    const { slice, page, links } = this.page(items, req);
    if (!slice.length) return { status: 204 };
    return {
      status: 200,
      body: {
        ...(total ? { _total_items: items.length } : {}),
        _page: page,
        _links: links,
        _embedded: { [name]: slice.map(render) },
      },
    };
  }

  // --- account and users ---

  private account(): Reply {
    return {
      status: 200,
      body: {
        id: this.accountId,
        name: 'Example',
        subdomain: this.accountHost.split('.')[0],
        country: 'RU',
        currency: 'RUB',
      },
    };
  }

  private listUsers(req: SandboxRequest): Reply {
    const all = [...this.users.values()];
    return this.listed(
      all,
      req,
      'users',
      (u) => ({
        id: u.id,
        name: u.name,
        email: u.email ?? null,
        lang: 'ru',
        rights: { is_admin: false, is_free: false, is_active: true },
      }),
      true,
    );
  }

  // --- contacts ---

  /**
   * amoCRM's query is a substring search over the phones as stored: the digits of the query
   * must appear in a stored phone's digits, so "+7…" misses a number stored as "8 (…)".
   */
  private findContacts(req: SandboxRequest): Reply {
    const q = req.query.query ?? '';
    const qDigits = digitsOf(q);
    const found = [...this.contacts.values()].filter((c) => {
      if (!q) return true;
      if (qDigits.length >= 4) return c.phones.some((p) => digitsOf(p).includes(qDigits));
      return c.name.toLowerCase().includes(q.toLowerCase());
    });
    const withLeads = withList(req.query).includes('leads');
    return this.listed(found, req, 'contacts', (c) => this.renderContact(c, withLeads));
  }

  private renderContact(c: StoredContact, withLeads: boolean): Json {
    const embedded: Json = { tags: [] };
    if (withLeads) embedded.leads = c.leadIds.map((id) => ({ id }));
    return {
      id: c.id,
      name: c.name,
      first_name: c.firstName,
      last_name: c.lastName,
      responsible_user_id: c.responsibleUserId,
      group_id: 0,
      created_by: 0,
      updated_by: 0,
      created_at: c.createdAt,
      updated_at: c.createdAt,
      is_deleted: false,
      account_id: this.accountId,
      // amoCRM sends null, not [], for a card without custom fields.
      custom_fields_values: c.phones.length
        ? [
            {
              field_id: PHONE_FIELD_ID,
              field_name: 'Телефон',
              field_code: 'PHONE',
              field_type: 'multitext',
              values: c.phones.map((value) => ({
                value,
                enum_id: PHONE_ENUM_ID,
                enum_code: 'WORK',
              })),
            },
          ]
        : null,
      _links: { self: { href: `${this.url}/api/v4/contacts/${c.id}` } },
      _embedded: embedded,
    };
  }

  /** Validates a contact to create (at `prefix`); returns its phones. */
  private checkNewContact(item: Json, prefix: string, errors: FieldError[]): string[] {
    for (const field of ['name', 'first_name', 'last_name']) {
      checkString(errors, item[field], `${prefix}${field}`, { allowEmpty: true });
    }
    this.checkUser(errors, item.responsible_user_id, `${prefix}responsible_user_id`);
    return this.phonesFrom(item.custom_fields_values, `${prefix}custom_fields_values`, errors);
  }

  private phonesFrom(value: unknown, path: string, errors: FieldError[]): string[] {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) {
      errors.push(err('InvalidType', path, 'This value should be of type array.'));
      return [];
    }
    const phones: string[] = [];
    value.forEach((field: unknown, i) => {
      const at = `${path}.${i}`;
      if (!isObject(field)) {
        errors.push(err('InvalidType', at, 'This value should be of type object.'));
        return;
      }
      if (field.field_code !== 'PHONE' && field.field_id !== PHONE_FIELD_ID) {
        const key = field.field_id !== undefined ? 'field_id' : 'field_code';
        errors.push(err('NotSupportedChoice', `${at}.${key}`, 'The field does not exist.'));
        return;
      }
      if (!Array.isArray(field.values) || !field.values.length) {
        errors.push(err('NotBlank', `${at}.values`, 'This value should not be blank.'));
        return;
      }
      field.values.forEach((v: unknown, j) => {
        const vAt = `${at}.values.${j}`;
        if (!isObject(v) || typeof v.value !== 'string' || !v.value.trim()) {
          errors.push(err('InvalidType', `${vAt}.value`, 'This value should be a phone number.'));
          return;
        }
        if (v.enum_code !== undefined && !PHONE_ENUM_CODES.includes(v.enum_code as string)) {
          errors.push(err('NotSupportedChoice', `${vAt}.enum_code`, 'Unknown enum code.'));
          return;
        }
        phones.push(v.value);
      });
    });
    return phones;
  }

  private checkUser(errors: FieldError[], value: unknown, path: string): void {
    if (value === undefined) return;
    if (!isInt(value)) errors.push(err('InvalidType', path, 'This value should be of type int.'));
    else if (!this.users.has(value))
      errors.push(err('NotSupportedChoice', path, 'User not found.'));
  }

  private storeContact(
    item: Json,
    phones: string[],
    responsibleUserId?: number,
    fallbackName = '',
  ): StoredContact {
    const firstName = typeof item.first_name === 'string' ? item.first_name : '';
    const lastName = typeof item.last_name === 'string' ? item.last_name : '';
    const name =
      typeof item.name === 'string' && item.name
        ? item.name
        : [firstName, lastName].filter(Boolean).join(' ') || fallbackName;
    const stored = this.addContact({
      name,
      phones,
      responsibleUserId:
        (item.responsible_user_id as number | undefined) ??
        responsibleUserId ??
        this.defaultUserId(),
    });
    stored.firstName = firstName;
    stored.lastName = lastName;
    return stored;
  }

  private createContacts(req: SandboxRequest): Reply {
    const items = itemsOf(req, MAX_PAGE);
    const phones: string[][] = [];
    const refused = collect(items, (item, i) => {
      const errors: FieldError[] = [];
      if (!isObject(item)) return [err('InvalidType', '', 'This value should be of type object.')];
      phones[i] = this.checkNewContact(item, '', errors);
      return errors;
    });
    if (refused) return refused;
    const created = (items as Json[]).map((item, i) => ({
      id: this.storeContact(item, phones[i]).id,
      request_id: typeof item.request_id === 'string' ? item.request_id : String(i),
    }));
    return {
      status: 200,
      body: {
        _links: { self: { href: `${this.url}/api/v4/contacts` } },
        _embedded: {
          contacts: created.map((c) => ({
            ...c,
            is_deleted: false,
            is_unsorted: false,
            _links: { self: { href: `${this.url}/api/v4/contacts/${c.id}` } },
          })),
        },
      },
    };
  }

  /** The oldest contact with a phone ending in the number's last ten digits (amoCRM's rule). */
  private contactForCall(phone: string): StoredContact | undefined {
    const lastTen = digitsOf(phone).slice(-10);
    if (!lastTen) return undefined;
    return [...this.contacts.values()].find((c) =>
      c.phones.some((p) => digitsOf(p).endsWith(lastTen)),
    );
  }

  // --- events (screen pop) ---

  private addEvents(req: SandboxRequest): Reply {
    if (!isObject(req.json) || !Array.isArray(req.json.add) || !req.json.add.length) {
      return invalid([
        {
          request_id: '0',
          errors: [err('NotBlank', 'add', 'This value should not be blank.')],
        },
      ]);
    }
    const items = req.json.add;
    const refused = collect(items, (item, i) => {
      const at = `add.${i}`;
      if (!isObject(item)) return [err('InvalidType', at, 'This value should be of type object.')];
      const errors: FieldError[] = [];
      if (item.type !== 'phone_call')
        errors.push(err('NotSupportedChoice', `${at}.type`, 'The value is not a valid choice.'));
      checkString(errors, item.phone_number, `${at}.phone_number`, { required: true });
      if (!Array.isArray(item.users) || !item.users.length) {
        errors.push(err('NotBlank', `${at}.users`, 'This value should not be blank.'));
      } else if (!item.users.every((u) => isInt(u) && this.users.has(u))) {
        errors.push(err('NotSupportedChoice', `${at}.users`, 'User not found.'));
      }
      return errors;
    });
    if (refused) return refused;
    const at = this.now();
    for (const item of items as Json[]) {
      this.popups.push({
        phone: item.phone_number as string,
        users: [...(item.users as number[])],
        at,
      });
    }
    return {
      status: 200,
      body: {
        _embedded: {
          items: (items as Json[]).map((item) => ({
            type: 'phone_call',
            phone_number: item.phone_number,
            users: item.users,
          })),
        },
      },
    };
  }

  // --- calls ---

  private checkCall(item: unknown): FieldError[] {
    if (!isObject(item)) return [err('InvalidType', '', 'This value should be of type object.')];
    const errors: FieldError[] = [];
    if (item.direction === undefined)
      errors.push(err('NotBlank', 'direction', 'This value should not be blank.'));
    else if (!CALL_DIRECTIONS.includes(item.direction as string))
      errors.push(err('NotSupportedChoice', 'direction', 'The value is not a valid choice.'));
    checkInt(errors, item.duration, 'duration', { required: true, min: 0 });
    checkString(errors, item.source, 'source', { required: true });
    checkString(errors, item.phone, 'phone', { required: true });
    checkString(errors, item.uniq, 'uniq');
    if (item.link !== undefined && !isHttpUrl(item.link))
      errors.push(err('InvalidUrl', 'link', 'This value is not a valid URL.'));
    if (item.call_status !== undefined && !CALL_STATUSES.includes(item.call_status as number))
      errors.push(err('NotSupportedChoice', 'call_status', 'The value is not a valid choice.'));
    checkString(errors, item.call_result, 'call_result', { allowEmpty: true });
    if (
      item.call_responsible !== undefined &&
      !isInt(item.call_responsible) &&
      typeof item.call_responsible !== 'string'
    ) {
      errors.push(err('InvalidType', 'call_responsible', 'This value should be int or string.'));
    }
    for (const field of ['responsible_user_id', 'created_by', 'updated_by'])
      this.checkUser(errors, item[field], field);
    for (const field of ['created_at', 'updated_at'])
      checkInt(errors, item[field], field, { min: 0 });
    checkString(errors, item.request_id, 'request_id');
    // NotFound is kept for "no card has this number", the one refusal a client may act on.
    if (!errors.length && !this.contactForCall(item.phone as string))
      errors.push(err('NotFound', 'phone', 'Entity not found'));
    return errors;
  }

  private addCalls(req: SandboxRequest): Reply {
    const items = itemsOf(req, MAX_CALLS);
    const refused = collect(items, (item) => this.checkCall(item));
    if (refused) return refused;
    const added = (items as Json[]).map((item, i) => {
      const contact = this.contactForCall(item.phone as string)!;
      const lead = contact.leadIds.length === 1;
      const stored = {
        ...item,
        id: this.nextCallId++,
        entity_id: lead ? contact.leadIds[0] : contact.id,
        entity_type: lead ? 'lead' : 'contact',
      } as StoredCall;
      this.calls.push(stored);
      return {
        id: stored.id,
        entity_id: stored.entity_id,
        entity_type: stored.entity_type,
        account_id: this.accountId,
        request_id: typeof item.request_id === 'string' ? item.request_id : String(i),
        _embedded: { entity: { id: stored.entity_id } },
      };
    });
    return {
      status: 200,
      body: { _total_items: added.length, _embedded: { calls: added } },
    };
  }

  // --- incoming leads ---

  private checkUnsorted(item: unknown, uniqs: Set<string>): FieldError[] {
    if (!isObject(item)) return [err('InvalidType', '', 'This value should be of type object.')];
    const errors: FieldError[] = [];
    checkString(errors, item.source_uid, 'source_uid', { required: true });
    checkString(errors, item.source_name, 'source_name', { required: true });
    if (item.pipeline_id !== undefined && !this.pipelines.has(item.pipeline_id as number))
      errors.push(err('NotSupportedChoice', 'pipeline_id', 'Pipeline not found.'));
    checkInt(errors, item.created_at, 'created_at', { min: 0 });
    checkString(errors, item.request_id, 'request_id');
    const m = item.metadata;
    if (!isObject(m)) {
      errors.push(err('NotBlank', 'metadata', 'This value should not be blank.'));
    } else {
      checkString(errors, m.uniq, 'metadata.uniq', { required: true });
      checkString(errors, m.from, 'metadata.from', { required: true });
      if (typeof m.phone !== 'string')
        errors.push(err('NotBlank', 'metadata.phone', 'This value should be of type string.'));
      checkInt(errors, m.called_at, 'metadata.called_at', { required: true, min: 0 });
      checkInt(errors, m.duration, 'metadata.duration', { required: true, min: 0 });
      checkString(errors, m.service_code, 'metadata.service_code', { required: true });
      if (m.link !== undefined && m.link !== '' && !isHttpUrl(m.link))
        errors.push(err('InvalidUrl', 'metadata.link', 'This value is not a valid URL.'));
      if (m.is_call_event_needed !== undefined && typeof m.is_call_event_needed !== 'boolean')
        errors.push(
          err('InvalidType', 'metadata.is_call_event_needed', 'This value should be bool.'),
        );
      if (
        m.call_responsible !== undefined &&
        !isInt(m.call_responsible) &&
        typeof m.call_responsible !== 'string'
      ) {
        errors.push(
          err('InvalidType', 'metadata.call_responsible', 'This value should be int or string.'),
        );
      }
      if (typeof m.uniq === 'string' && uniqs.has(m.uniq)) {
        errors.push(
          err(
            'Duplicate',
            'metadata.uniq',
            "there can't be 2 identical entities in Incoming leads",
          ),
        );
      }
      if (typeof m.uniq === 'string') uniqs.add(m.uniq);
    }
    const embedded = item._embedded;
    if (embedded !== undefined) {
      if (!isObject(embedded)) {
        errors.push(err('InvalidType', '_embedded', 'This value should be of type object.'));
      } else {
        for (const kind of ['leads', 'contacts']) {
          const list = embedded[kind];
          if (list === undefined) continue;
          if (!Array.isArray(list) || !list.every(isObject)) {
            errors.push(err('InvalidType', `_embedded.${kind}`, 'This value should be a list.'));
            continue;
          }
          list.forEach((entity: Json, i) => {
            const at = `_embedded.${kind}.${i}.`;
            for (const field of ['name', 'first_name'])
              checkString(errors, entity[field], `${at}${field}`, { allowEmpty: true });
            checkInt(errors, entity.price, `${at}price`, { min: 0 });
            this.checkUser(errors, entity.responsible_user_id, `${at}responsible_user_id`);
          });
        }
      }
    }
    return errors;
  }

  private addUnsorted(req: SandboxRequest): Reply {
    const items = itemsOf(req, MAX_UNSORTED);
    const uniqs = new Set(this.unsorted.map((u) => u.metadata.uniq as string));
    const refused = collect(items, (item) => this.checkUnsorted(item, uniqs));
    if (refused) return refused;
    const added = (items as Json[]).map((item, i) => {
      const metadata = item.metadata as Json;
      const embedded = (item._embedded ?? {}) as { leads?: Json[]; contacts?: Json[] };
      const pipelineId = (item.pipeline_id as number | undefined) ?? 3166396;
      const leadIn = embedded.leads?.[0] ?? {};
      const responsible =
        (leadIn.responsible_user_id as number | undefined) ??
        (isInt(metadata.call_responsible) && this.users.has(metadata.call_responsible)
          ? metadata.call_responsible
          : this.defaultUserId());
      const from = metadata.from as string;
      const contactIn = embedded.contacts?.[0];
      const contact = contactIn
        ? this.storeContact(contactIn, [from], responsible, from)
        : (this.contactForCall(from) ?? this.storeContact({}, [from], responsible, from));
      const lead = this.storeLead({
        name: typeof leadIn.name === 'string' && leadIn.name ? leadIn.name : '',
        price: (leadIn.price as number | undefined) ?? 0,
        responsible_user_id: responsible,
        pipeline_id: pipelineId,
        status_id: this.pipelines.get(pipelineId)!.statuses[0],
        contact_ids: [contact.id],
        tags: [],
      });
      const stored: StoredUnsorted = {
        uid: randomBytes(16).toString('hex'),
        source_uid: item.source_uid as string,
        source_name: item.source_name as string,
        category: 'sip',
        pipeline_id: pipelineId,
        created_at: (item.created_at as number | undefined) ?? this.nowS(),
        metadata: { ...metadata },
        _embedded: { leads: [{ id: lead.id }], contacts: [{ id: contact.id }] },
      };
      if (typeof item.request_id === 'string') stored.request_id = item.request_id;
      this.unsorted.push(stored);
      return {
        uid: stored.uid,
        account_id: this.accountId,
        request_id: stored.request_id ?? String(i),
        _embedded: stored._embedded,
      };
    });
    return {
      status: 200,
      body: { _total_items: added.length, _embedded: { unsorted: added } },
    };
  }

  private listUnsorted(req: SandboxRequest): Reply {
    const category = req.query['filter[category][]'] ?? req.query['filter[category]'];
    const desc = req.query['order[created_at]'] === 'desc';
    const found = this.unsorted
      .map((u, i) => ({ u, i }))
      .filter(({ u }) => category === undefined || u.category === category)
      .sort((a, b) => (a.u.created_at - b.u.created_at || a.i - b.i) * (desc ? -1 : 1))
      .map(({ u }) => u);
    return this.listed(found, req, 'unsorted', (u) => {
      const { request_id: _requestId, ...shown } = u;
      return { ...shown, account_id: this.accountId };
    });
  }

  // --- leads ---

  private storeLead(lead: Omit<StoredLead, 'id' | 'created_at' | 'contact_id'>): StoredLead {
    const id = this.nextLeadId++;
    const stored: StoredLead = {
      id,
      ...lead,
      name: lead.name || `Сделка #${id}`,
      contact_id: lead.contact_ids[0] ?? null,
      created_at: this.nowS(),
    };
    this.leads.push(stored);
    for (const contactId of stored.contact_ids)
      this.contacts.get(contactId)?.leadIds.push(stored.id);
    return stored;
  }

  private checkComplexLead(item: unknown, phones: string[][]): FieldError[] {
    if (!isObject(item)) return [err('InvalidType', '', 'This value should be of type object.')];
    const errors: FieldError[] = [];
    checkString(errors, item.name, 'name', { required: true });
    this.checkUser(errors, item.responsible_user_id, 'responsible_user_id');
    checkInt(errors, item.price, 'price', { min: 0 });
    let pipeline = this.pipelines.get(3166396);
    if (item.pipeline_id !== undefined) {
      pipeline = isInt(item.pipeline_id) ? this.pipelines.get(item.pipeline_id) : undefined;
      if (!pipeline) errors.push(err('NotSupportedChoice', 'pipeline_id', 'Pipeline not found.'));
    }
    if (
      item.status_id !== undefined &&
      pipeline &&
      !pipeline.statuses.includes(item.status_id as number)
    ) {
      errors.push(
        err('NotSupportedChoice', 'status_id', 'The status does not belong to the pipeline.'),
      );
    }
    const embedded = item._embedded;
    if (embedded === undefined) return errors;
    if (!isObject(embedded)) {
      errors.push(err('InvalidType', '_embedded', 'This value should be of type object.'));
      return errors;
    }
    const contacts = embedded.contacts ?? [];
    if (!Array.isArray(contacts)) {
      errors.push(err('InvalidType', '_embedded.contacts', 'This value should be a list.'));
    } else {
      contacts.forEach((c: unknown, i) => {
        const at = `_embedded.contacts.${i}`;
        if (!isObject(c)) {
          errors.push(err('InvalidType', at, 'This value should be of type object.'));
        } else if (c.id !== undefined) {
          if (!isInt(c.id) || !this.contacts.has(c.id))
            errors.push(err('NotSupportedChoice', `${at}.id`, 'Contact not found.'));
        } else {
          phones[i] = this.checkNewContact(c, `${at}.`, errors);
        }
      });
    }
    const tags = embedded.tags ?? [];
    if (!Array.isArray(tags)) {
      errors.push(err('InvalidType', '_embedded.tags', 'This value should be a list.'));
    } else {
      tags.forEach((t: unknown, i) => {
        checkString(errors, isObject(t) ? t.name : undefined, `_embedded.tags.${i}.name`, {
          required: true,
        });
      });
    }
    return errors;
  }

  private addComplexLeads(req: SandboxRequest): Reply {
    const items = itemsOf(req, MAX_COMPLEX);
    const phones: string[][][] = items.map(() => []);
    const refused = collect(items, (item, i) => this.checkComplexLead(item, phones[i]));
    if (refused) return refused;
    const created = (items as Json[]).map((item, i) => {
      const embedded = (item._embedded ?? {}) as { contacts?: Json[]; tags?: Json[] };
      const responsible = (item.responsible_user_id as number | undefined) ?? this.defaultUserId();
      const pipelineId = (item.pipeline_id as number | undefined) ?? 3166396;
      const contactIds = (embedded.contacts ?? []).map((c, j) =>
        c.id !== undefined ? (c.id as number) : this.storeContact(c, phones[i][j], responsible).id,
      );
      const lead = this.storeLead({
        name: item.name as string,
        price: (item.price as number | undefined) ?? 0,
        responsible_user_id: responsible,
        pipeline_id: pipelineId,
        status_id:
          (item.status_id as number | undefined) ?? this.pipelines.get(pipelineId)!.statuses[0],
        contact_ids: contactIds,
        tags: (embedded.tags ?? []).map((t) => ({ name: t.name as string })),
      });
      return {
        id: lead.id,
        contact_id: lead.contact_id,
        company_id: null,
        request_id: [typeof item.request_id === 'string' ? item.request_id : String(i)],
        merged: false,
      };
    });
    return { status: 200, body: created };
  }

  private findLeads(req: SandboxRequest): Reply {
    const q = (req.query.query ?? '').toLowerCase();
    const found = this.leads.filter((l) => l.name.toLowerCase().includes(q));
    const withContacts = withList(req.query).includes('contacts');
    return this.listed(found, req, 'leads', (l) => {
      const embedded: Json = { tags: l.tags.map((t) => ({ ...t })) };
      if (withContacts) embedded.contacts = l.contact_ids.map((id) => ({ id }));
      return {
        id: l.id,
        name: l.name,
        price: l.price,
        responsible_user_id: l.responsible_user_id,
        group_id: 0,
        pipeline_id: l.pipeline_id,
        status_id: l.status_id,
        created_by: 0,
        created_at: l.created_at,
        updated_at: l.created_at,
        account_id: this.accountId,
        _embedded: embedded,
      };
    });
  }
}

/** The conformance suite's fixture, with the sandbox it runs against. */
export type AmocrmConformanceFixture = ConformanceFixture & { sandbox: AmocrmSandbox };

/**
 * A started sandbox with one user and one contact stored in the "8 (…)" spelling, reached with
 * a long-lived token (the suite's OAuth-free path).
 */
export async function amocrmConformanceFixture(): Promise<AmocrmConformanceFixture> {
  const sandbox = new AmocrmSandbox();
  sandbox.addUser({ id: 5001, name: 'Ivan Petrov' });
  sandbox.addContact({
    id: 7001,
    name: 'Anna Smirnova',
    phones: ['8 (916) 123-45-67'],
    responsibleUserId: 5001,
  });
  const url = await sandbox.start();
  const token = sandbox.issueLongLivedToken();
  const timeoutMs = 400;
  return {
    sandbox,
    config: { baseDomain: sandbox.accountHost, clientId: sandbox.clientId, apiUrl: url, timeoutMs },
    credentials: { longLivedToken: token },
    badCredentials: { longLivedToken: 'not-a-token' },
    knownPhone: '+79161234567',
    knownContactId: '7001',
    knownResponsibleCrmUserId: '5001',
    unknownPhone: '+74990001122',
    timeoutMs,
    failNext: (status, retryAfterS) => sandbox.failNext(1, { status, retryAfterS }),
    hangNext: (ms) => sandbox.hangNext(1, ms),
    requests: () => sandbox.requests,
    expectedLookupRequests: (phone) => [
      {
        method: 'GET',
        path: '/api/v4/contacts',
        query: { query: phone.replace(/\D/g, '').slice(-10), with: 'leads' },
        headers: { authorization: `Bearer ${token}` },
      },
    ],
    close: () => sandbox.stop(),
  };
}
