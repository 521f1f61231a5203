import { randomBytes } from 'node:crypto';
import {
  FaultOptions,
  LeakyBucketLimiter,
  SandboxOptions,
  SandboxReply,
  SandboxRequest,
  SandboxServer,
} from '../../src/connector-sdk/testing/sandbox';
import type {
  ConformanceFixture,
  RecordedRequest,
} from '../../src/connector-sdk/testing/conformance';

/**
 * A local stand-in for a Bitrix24 portal's REST API and its OAuth server on one loopback
 * port, limited to what the hub uses, on the SDK's sandbox harness. It speaks Bitrix24's wire
 * format: `/rest/{method}` with the token in `auth`, PHP-style form fields, the `result`/`time`
 * envelope, a leaky bucket per portal, `batch` with `$result[...]` references, the telephony
 * methods' own rules (the 30-minute CALL_ID reuse, leads made by CRM_CREATE, the statistics
 * table after finish) and the events a portal POSTs (install, click-to-call).
 *
 * Stored leads, calls and statistics keep the wire's UPPER_CASE names, as they record what
 * the portal holds; users and contacts use camelCase, as tests seed them.
 */
export type { FaultOptions };

export type TimemanStatus =
  'OPENED' | 'CLOSED' | 'PAUSED' | 'EXPIRED' | 'UNAVAILABLE' | 'NOT_INSTALLED';
export type CrmEntityType = 'CONTACT' | 'COMPANY' | 'LEAD';
export type Params = Record<string, unknown>;

export type Bitrix24SandboxOptions = SandboxOptions & {
  clientId?: string;
  clientSecret?: string;
  /** Random hex 32 by default. */
  memberId?: string;
  /** What events carry in `auth[application_token]`; random hex 32 by default. */
  applicationToken?: string;
  /** The leaky bucket: 2 per second and 50 by default (standard plans); Enterprise 5 and 250. */
  drainPerSecond?: number;
  burst?: number;
};

/** A request as the sandbox recorded it, with the REST method and the merged parameters. */
export type Bitrix24Request = SandboxRequest & {
  /** Lower-cased, without `.json`; undefined outside /rest/. */
  restMethod?: string;
  webhook?: { userId: number; secret: string };
  /** Query and body merged, PHP-style keys decoded (`auth` included). */
  params: Params;
};

export interface StoredUser {
  id: number;
  name: string;
  lastName: string;
  email: string;
  extension: string | null;
  mobile: string;
  workPhone: string;
  active: boolean;
  admin: boolean;
  timeman: TimemanStatus;
}

export interface StoredEntity {
  type: CrmEntityType;
  id: number;
  name: string;
  phones: string[];
  assignedById: number;
}

export interface StoredLead {
  ID: number;
  TITLE: string;
  NAME: string | null;
  SOURCE_ID: string | null;
  STATUS_ID: string;
  ASSIGNED_BY_ID: number;
  ORIGINATOR_ID: string | null;
  ORIGIN_ID: string | null;
  COMMENTS: string | null;
  PHONE: { ID: number; VALUE: string; VALUE_TYPE: string }[];
  DATE_CREATE: string;
  /** Other FIELDS as sent. */
  [field: string]: unknown;
}

export interface StoredLine {
  ID: number;
  NUMBER: string;
  NAME: string;
  CRM_AUTO_CREATE: 'Y' | 'N';
}

export interface StoredCall {
  CALL_ID: string;
  origin: 'register' | 'clickToCall';
  /** The parameters register received (clickToCall's equivalent for clicked calls). */
  params: Params;
  userId: number;
  phone: string;
  type: number;
  lineNumber: string;
  externalCallId: string;
  startDate: string;
  crmEntityType: CrmEntityType | null;
  crmEntityId: number | null;
  createdLeadId: number | null;
  /** Sandbox clock, ms. */
  registeredAt: number;
  finished: boolean;
}

export interface StatisticRecord {
  ID: number;
  CALL_ID: string;
  EXTERNAL_CALL_ID: string | null;
  PORTAL_USER_ID: number;
  PHONE_NUMBER: string;
  PORTAL_NUMBER: string;
  INCOMING: number;
  CALL_DURATION: number;
  CALL_START_DATE: string;
  CALL_STATUS: 0 | 1;
  CALL_VOTE: number | null;
  COST: number;
  COST_CURRENCY: string;
  CALL_FAILED_CODE: string;
  CALL_FAILED_REASON: string;
  REST_APP_ID: number;
  REST_APP_NAME: string;
  CRM_ACTIVITY_ID: number | null;
  COMMENT: string | null;
  CRM_ENTITY_TYPE: CrmEntityType | null;
  CRM_ENTITY_ID: number | null;
}

/** A call activity, as finish writes it into the bound entity's timeline. */
export interface StoredActivity {
  ID: number;
  OWNER_TYPE: CrmEntityType;
  OWNER_ID: number;
  CALL_ID: string;
  DIRECTION: 'incoming' | 'outgoing';
  DURATION: number;
  RESPONSIBLE_ID: number;
  STATUS_CODE: string;
}

export interface CallCard {
  /** Everyone the card was ever shown to, and hidden from, in order. */
  shown: number[];
  hidden: number[];
  /** Who sees it now. */
  visible: number[];
  showRequests: number;
  hideRequests: number;
}

export interface CallRecord {
  fileId: number;
  fileName: string;
  bytes: Buffer;
  url?: string;
}

export interface EventBinding {
  id: number;
  /** Upper case, as event.get lists it. */
  event: string;
  handler: string;
  authType: number;
  offline: boolean;
}

/** The OAuth server's token reply, also what install() sends in `auth[...]`. */
export interface Bitrix24TokenReply {
  access_token: string;
  expires_in: number;
  expires: number;
  scope: string;
  domain: string;
  server_endpoint: string;
  status: 'L';
  client_endpoint: string;
  member_id: string;
  user_id: number;
  refresh_token: string;
}

export interface Delivery {
  status: number;
  body: string;
}

interface Caller {
  userId: number;
  webhook: boolean;
}

interface Answer {
  result: unknown;
  total?: number;
  next?: number;
}

type Method = (p: Params, caller: Caller) => Answer | Promise<Answer>;
type Reply = SandboxReply;
type Json = Record<string, unknown>;

const SCOPE = 'crm,telephony,user';
const TOKEN_TTL_S = 3600;
const PAGE = 50;
const MAX_BATCH = 50;
const REUSE_WINDOW_MS = 30 * 60 * 1000;
const DOWNLOAD_TIMEOUT_MS = 5000;
const DELIVERY_TIMEOUT_MS = 10_000;
const APP_ID = 17;
const APP_NAME = 'Telephony hub';
const ENTITY_ORDER: CrmEntityType[] = ['CONTACT', 'COMPANY', 'LEAD'];
// What Bitrix24 refuses to a webhook: it needs an application's context.
const APP_ONLY =
  /^(telephony\.externalcall\.(register|finish|show|hide|attachrecord)|telephony\.externalline\..+|event\.bind)$/;
const REFERENCE = /\$result\[([^\]]+)\]((?:\[[^\]]*\])*)/g;
const WHOLE_REFERENCE = new RegExp(`^${REFERENCE.source}$`);
const STATUS_CODES = '200 304 603 603-S 403 404 486 484 503 480 402 423 OTHER'.split(' ');
const KNOWN_EVENTS = [
  'ONEXTERNALCALLSTART',
  'ONEXTERNALCALLBACKSTART',
  'ONAPPINSTALL',
  'ONAPPUNINSTALL',
  'ONAPPUPDATE',
  ...['LEAD', 'CONTACT'].flatMap((e) => [`ONCRM${e}ADD`, `ONCRM${e}UPDATE`]),
];

/** Thrown by a method to answer with a Bitrix24 error. */
class MethodError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly description: string,
    readonly extra: Json = {},
  ) {
    super(description);
  }
}

function failure(status: number, code: string, description: string): Reply {
  return { status, body: { error: code, error_description: description } };
}

function invalid(description: string, code = 'ERROR_CORE'): MethodError {
  return new MethodError(400, code, description);
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function digitsOf(value: string): string {
  return value.replace(/\D/g, '');
}

/** 8XXXXXXXXXX, 7XXXXXXXXXX and +7… are one number: compare the last ten digits. */
function phoneKey(phone: string): string {
  const digits = digitsOf(phone);
  return digits.length > 10 ? digits.slice(-10) : digits;
}

function international(phone: string): string {
  const digits = digitsOf(phone);
  return `+${digits.length === 11 && digits.startsWith('8') ? `7${digits.slice(1)}` : digits}`;
}

/** ISO 8601 to the second with an offset, as Bitrix24 writes dates. */
function isoSeconds(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19)}+00:00`;
}

function hex(bytes: number): string {
  return randomBytes(bytes).toString('hex');
}

function isLoopback(url: string): boolean {
  try {
    const { hostname, protocol } = new URL(url);
    return (
      ['http:', 'https:'].includes(protocol) &&
      (hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname))
    );
  } catch {
    return false;
  }
}

function isIndex(key: string): boolean {
  return /^(0|[1-9]\d*)$/.test(key);
}

/** Objects whose keys are exactly 0..n-1 become lists, as PHP's arrays do in JSON. */
function listify(value: unknown): unknown {
  if (!isObject(value)) return value;
  const keys = Object.keys(value);
  const entries = keys.map((k) => [k, listify(value[k])] as const);
  if (keys.length && keys.every(isIndex)) {
    const sorted = [...entries].sort((a, b) => Number(a[0]) - Number(b[0]));
    if (sorted.every(([k], i) => Number(k) === i)) return sorted.map(([, v]) => v);
  }
  return Object.fromEntries(entries);
}

/** PHP's reading of `a[b][0]=x` pairs: nested objects; `[]` appends; index keys make lists. */
export function decodePhpPairs(pairs: Iterable<[string, string]>): Params {
  const root: Json = {};
  for (const [key, value] of pairs) {
    const open = key.indexOf('[');
    const path: string[] = [];
    if (open > 0) {
      const group = /\[([^\]]*)\]/g;
      group.lastIndex = open;
      let at = open;
      for (let m = group.exec(key); m && m.index === at; m = group.exec(key)) {
        path.push(m[1]);
        at = group.lastIndex;
      }
    }
    const base = path.length ? key.slice(0, open) : key;
    if (!base) continue;
    let node = root;
    const segments = [base, ...path];
    segments.forEach((segment, i) => {
      const name =
        segment === ''
          ? String(
              Object.keys(node)
                .filter(isIndex)
                .reduce((max, k) => Math.max(max, Number(k) + 1), 0),
            )
          : segment;
      if (i === segments.length - 1) {
        node[name] = value;
      } else {
        if (!isObject(node[name])) node[name] = {};
        node = node[name] as Json;
      }
    });
  }
  return listify(root) as Params;
}

export function decodePhpForm(raw: string): Params {
  return decodePhpPairs(new URLSearchParams(raw));
}

function merge(into: Json, from: Json): Json {
  const out: Json = { ...into };
  for (const [key, value] of Object.entries(from)) {
    out[key] = isObject(out[key]) && isObject(value) ? merge(out[key] as Json, value) : value;
  }
  return out;
}

/** A parameter by name; Bitrix24 reads its parameters' names in any case. */
function param(p: Params, name: string): unknown {
  if (name in p) return p[name];
  const upper = name.toUpperCase();
  const key = Object.keys(p).find((k) => k.toUpperCase() === upper);
  return key === undefined ? undefined : p[key];
}

function textParam(p: Params, name: string): string | undefined {
  const value = param(p, name);
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return undefined;
}

function intParam(p: Params, name: string): number | undefined {
  const value = param(p, name);
  if (value === undefined || value === null || value === '') return undefined;
  const n = typeof value === 'number' ? value : /^-?\d+$/.test(String(value)) ? Number(value) : NaN;
  if (!Number.isInteger(n)) throw invalid(`${name} should be an integer`);
  return n;
}

function flagParam(p: Params, name: string, fallback: boolean): boolean {
  const value = param(p, name);
  if (value === undefined || value === '') return fallback;
  return [1, '1', 'Y', 'y', 'true', true].includes(value as string | number | boolean);
}

function required(p: Params, name: string): string {
  const value = textParam(p, name);
  if (!value) throw invalid(`${name} should not be empty`);
  return value;
}

/** A map as PHP's json_encode writes it: `[]` when empty, a list for keys 0..n-1. */
function phpMap(map: Json): unknown {
  const keys = Object.keys(map);
  if (!keys.length) return [];
  return keys.every((k, i) => k === String(i)) ? Object.values(map) : map;
}

function page<T>(items: T[], p: Params): Answer & { result: T[] } {
  const start = Math.max(0, intParam(p, 'start') ?? 0);
  const result = items.slice(start, start + PAGE);
  const answer: Answer & { result: T[] } = { result, total: items.length };
  if (start + PAGE < items.length) answer.next = start + PAGE;
  return answer;
}

/** A filter key without Bitrix24's operator prefix (`=ID` is `ID`). */
function filterField(key: string): string {
  return key.replace(/^=/, '').toUpperCase();
}

function matchesValue(actual: unknown, wanted: unknown): boolean {
  if (Array.isArray(wanted)) return wanted.some((w) => matchesValue(actual, w));
  return String(actual ?? '') === String(wanted ?? '');
}

export class Bitrix24Sandbox extends SandboxServer {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly memberId: string;
  readonly applicationToken: string;
  readonly drainPerSecond: number;
  readonly burst: number;

  /** Added to Date.now() for the sandbox clock: ages tokens and calls without waiting. */
  clockOffsetMs = 0;
  /** Refresh requests the OAuth server received, refused ones included. */
  refreshCount = 0;
  /** attachRecord requests received, refused ones included. */
  attachRequests = 0;

  private readonly users = new Map<number, StoredUser>();
  private readonly entities: StoredEntity[] = [];
  private readonly leadStore: StoredLead[] = [];
  private readonly lineStore: StoredLine[] = [];
  private readonly callStore: StoredCall[] = [];
  private readonly statisticStore: StatisticRecord[] = [];
  private readonly activityStore: StoredActivity[] = [];
  private readonly cardStore = new Map<string, CallCard>();
  private readonly recordStore = new Map<string, CallRecord>();
  private readonly bindingStore: EventBinding[] = [];
  private readonly webhooks = new Map<string, number>();
  private readonly accessTokens = new Map<string, { userId: number; expiresAt: number }>();
  private readonly refreshTokens = new Map<string, { userId: number; spent: boolean }>();
  private readonly operationLimits = new Map<string, number>();
  private readonly callers = new WeakMap<SandboxRequest, Caller>();
  private readonly methods = new Map<string, Method>();
  private paymentLapsed = false;
  private nextLeadId = 1;
  private nextPhoneId = 1;
  private nextLineId = 1;
  private nextStatisticId = 1;
  private nextActivityId = 1;
  private nextFileId = 1;
  private nextBindingId = 1;

  constructor(options: Bitrix24SandboxOptions = {}) {
    const {
      clientId,
      clientSecret,
      memberId,
      applicationToken,
      drainPerSecond,
      burst,
      ...sandboxOptions
    } = options;
    super(sandboxOptions);
    this.clientId =
      clientId ?? `local.${hex(7)}.${String(randomBytes(4).readUInt32BE() % 1e8).padStart(8, '0')}`;
    this.clientSecret = clientSecret ?? randomBytes(33).toString('base64url');
    this.memberId = memberId ?? hex(16);
    this.applicationToken = applicationToken ?? hex(16);
    this.drainPerSecond = drainPerSecond ?? 2;
    this.burst = burst ?? 50;
    // Every HTTP request to /rest/ counts once, a batch included, whatever its token.
    this.limitWith(
      new LeakyBucketLimiter({
        bucketOf: (req) => (this.inspect(req).restMethod === undefined ? null : 'portal'),
        drainPerSecond: this.drainPerSecond,
        burst: this.burst,
        reject: () => failure(503, 'QUERY_LIMIT_EXCEEDED', 'Too many requests'),
      }),
    );
    for (const verb of ['GET', 'POST']) {
      this.route(verb, /^\/rest\//, (r) => this.rest(r));
      this.route(verb, /^\/oauth\/token\/?$/, (r) => this.tokenEndpoint(r));
    }
    const methods: Record<string, Method> = {
      'app.info': () => this.appInfo(),
      profile: (_p, c) => this.profile(c),
      'user.get': (p) => this.getUsers(p),
      'user.current': (_p, c) => ({ result: this.renderUser(this.userOrAdmin(c.userId)) }),
      'telephony.externalline.add': (p) => this.addLine(p),
      'telephony.externalline.get': () => ({
        result: this.lineStore.map(({ NUMBER, NAME, CRM_AUTO_CREATE }) => ({
          NUMBER,
          NAME,
          CRM_AUTO_CREATE,
        })),
      }),
      'telephony.externalline.update': (p) => this.updateLine(p),
      'telephony.externalline.delete': (p) => this.deleteLine(p),
      'telephony.externalcall.searchcrmentities': (p) => ({
        result: this.search(required(p, 'PHONE_NUMBER')).map((e) => this.renderMatch(e)),
      }),
      'telephony.externalcall.register': (p) => this.register(p),
      'telephony.externalcall.show': (p) => this.showOrHide(p, 'show'),
      'telephony.externalcall.hide': (p) => this.showOrHide(p, 'hide'),
      'telephony.externalcall.finish': (p) => this.finish(p),
      'telephony.externalcall.attachrecord': (p) => this.attachRecord(p),
      'voximplant.statistic.get': (p) => this.getStatistics(p),
      'crm.lead.add': (p, c) => this.addLead(p, c),
      'crm.lead.get': (p) => this.getLead(p),
      'crm.lead.list': (p) => this.listLeads(p),
      'event.bind': (p) => this.bind(p),
      'event.unbind': (p) => this.unbind(p),
      'event.get': () => ({
        result: this.bindingStore.map((b) => ({
          event: b.event,
          handler: b.handler,
          auth_type: String(b.authType),
          offline: b.offline ? 1 : 0,
        })),
      }),
    };
    for (const [name, method] of Object.entries(methods)) this.methods.set(name, method);
  }

  /** The portal's host as events and tokens name it, e.g. 127.0.0.1:PORT. */
  get domain(): string {
    return new URL(this.url).host;
  }

  /** The sandbox clock, ms since the epoch. */
  now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  advance(ms: number): void {
    this.clockOffsetMs += ms;
  }

  // --- seeding and inspection ---

  addUser(user: {
    id: number;
    name: string;
    lastName?: string;
    email?: string;
    extension?: string;
    mobile?: string;
    workPhone?: string;
    timeman?: TimemanStatus;
    active?: boolean;
    admin?: boolean;
  }): StoredUser {
    const stored: StoredUser = {
      id: user.id,
      name: user.name,
      lastName: user.lastName ?? '',
      email: user.email ?? '',
      extension: user.extension ?? null,
      mobile: user.mobile ?? '',
      workPhone: user.workPhone ?? '',
      active: user.active ?? true,
      admin: user.admin ?? user.id === 1,
      timeman: user.timeman ?? 'OPENED',
    };
    this.users.set(user.id, stored);
    return stored;
  }

  setTimeman(userId: number, status: TimemanStatus): void {
    const user = this.users.get(userId);
    if (!user) throw new Error(`user ${userId} is not seeded`);
    user.timeman = status;
  }

  /** A CRM entity with phones; a LEAD is stored as a lead (crm.lead.get sees it). */
  addContact(contact: {
    id?: number;
    type?: CrmEntityType;
    name: string;
    phones: string[];
    assignedById: number;
  }): StoredEntity {
    const type = contact.type ?? 'CONTACT';
    if (type === 'LEAD') {
      const lead = this.storeLead({
        ID: contact.id,
        TITLE: contact.name,
        NAME: contact.name,
        ASSIGNED_BY_ID: contact.assignedById,
        PHONE: contact.phones.map((VALUE) => ({ VALUE, VALUE_TYPE: 'WORK' })),
      });
      return this.leadEntity(lead);
    }
    const id =
      contact.id ??
      1 + this.entities.filter((e) => e.type === type).reduce((max, e) => Math.max(max, e.id), 0);
    const stored: StoredEntity = {
      type,
      id,
      name: contact.name,
      phones: [...contact.phones],
      assignedById: contact.assignedById,
    };
    this.entities.push(stored);
    return stored;
  }

  /** Changes the responsible of the first entity with this id (CONTACT, COMPANY, then LEAD). */
  setAssigned(entityId: number, userId: number, type?: CrmEntityType): void {
    const entity = this.entities.find((e) => e.id === entityId && (!type || e.type === type));
    if (entity) {
      entity.assignedById = userId;
      return;
    }
    const lead =
      type && type !== 'LEAD' ? undefined : this.leadStore.find((l) => l.ID === entityId);
    if (!lead) throw new Error(`no CRM entity ${entityId}`);
    lead.ASSIGNED_BY_ID = userId;
  }

  leads(): StoredLead[] {
    return this.leadStore;
  }

  calls(): StoredCall[] {
    return this.callStore;
  }

  statistics(): StatisticRecord[] {
    return this.statisticStore;
  }

  activities(): StoredActivity[] {
    return this.activityStore;
  }

  /** The call's card (all empty for a call never shown). */
  cards(callId: string): CallCard {
    return this.cardStore.get(callId) ?? this.emptyCard();
  }

  records(callId: string): CallRecord | undefined {
    return this.recordStore.get(callId);
  }

  lines(): StoredLine[] {
    return this.lineStore;
  }

  bindings(): EventBinding[] {
    return this.bindingStore;
  }

  /** An incoming webhook of this user; returns its secret. */
  addWebhook(userId: number): string {
    const secret = randomBytes(8).toString('hex');
    this.webhooks.set(secret, userId);
    return secret;
  }

  /** A fresh token pair for the user (1, the admin who installed the app, by default). */
  issueTokens(userId = 1): Bitrix24TokenReply {
    const refreshToken = hex(35);
    this.refreshTokens.set(refreshToken, { userId, spent: false });
    const accessToken = this.issueAccessToken(userId);
    return {
      access_token: accessToken,
      expires_in: TOKEN_TTL_S,
      expires: this.accessTokens.get(accessToken)!.expiresAt / 1000,
      scope: SCOPE,
      domain: this.domain,
      server_endpoint: `${this.url}/rest/`,
      status: 'L',
      client_endpoint: `${this.url}/rest/`,
      member_id: this.memberId,
      user_id: userId,
      refresh_token: refreshToken,
    };
  }

  /** Every access token issued so far is expired from now on. */
  expireAccessTokens(): void {
    const now = this.now();
    for (const token of this.accessTokens.values())
      token.expiresAt = Math.min(token.expiresAt, now);
  }

  /** The app's subscription lapsed: refresh answers 402 PAYMENT_REQUIRED. */
  paymentRequired(lapsed: boolean): void {
    this.paymentLapsed = lapsed;
  }

  /** The method answers 429 OPERATION_TIME_LIMIT for the next `ms` of the sandbox clock. */
  operationLimit(method: string, ms: number): void {
    this.operationLimits.set(method.toLowerCase().replace(/\.json$/, ''), this.now() + ms);
  }

  /** The recorded HTTP requests to this REST method (any case). */
  requestsTo(method: string): Bitrix24Request[] {
    const name = method.toLowerCase().replace(/\.json$/, '');
    return this.requests.map((r) => this.inspect(r)).filter((r) => r.restMethod === name);
  }

  /** How many HTTP requests /rest/ received. */
  restRequests(): number {
    return this.requests.filter((r) => this.inspect(r).restMethod !== undefined).length;
  }

  /**
   * What the portal does when an admin installs the local app: POSTs ONAPPINSTALL with a
   * fresh token pair to the app's install handler. Overrides send another identity.
   */
  async install(
    handlerUrl: string,
    o: {
      accessToken?: string;
      applicationToken?: string;
      memberId?: string;
      clientEndpoint?: string;
    } = {},
  ): Promise<Delivery & { tokens: Bitrix24TokenReply }> {
    const tokens = this.issueTokens();
    const delivery = await this.post(handlerUrl, [
      ['event', 'ONAPPINSTALL'],
      ['data[VERSION]', '1'],
      ['data[ACTIVE]', 'Y'],
      ['data[INSTALLED]', 'Y'],
      ['data[LANGUAGE_ID]', 'ru'],
      ['ts', String(this.nowS())],
      ['auth[access_token]', o.accessToken ?? tokens.access_token],
      ['auth[expires]', String(tokens.expires)],
      ['auth[expires_in]', String(tokens.expires_in)],
      ['auth[scope]', SCOPE],
      ['auth[domain]', this.domain],
      ['auth[server_endpoint]', tokens.server_endpoint],
      ['auth[status]', 'L'],
      ['auth[client_endpoint]', o.clientEndpoint ?? tokens.client_endpoint],
      ['auth[member_id]', o.memberId ?? this.memberId],
      ['auth[user_id]', String(tokens.user_id)],
      ['auth[refresh_token]', tokens.refresh_token],
      ['auth[application_token]', o.applicationToken ?? this.applicationToken],
    ]);
    return { ...delivery, tokens };
  }

  /**
   * A user clicked a phone number in the CRM: the portal registers an outgoing call, shows its
   * card to the user and POSTs ONEXTERNALCALLSTART to every online handler, once, without
   * retries. `applicationToken` sends another one; `deliverTo` sends every delivery there
   * instead of the bound handler's URL.
   */
  async clickToCall(o: {
    userId: number;
    phone: string;
    lineNumber?: string;
    crmEntityType?: CrmEntityType;
    crmEntityId?: number;
    applicationToken?: string;
    deliverTo?: string;
  }): Promise<{ callId: string; deliveries: (Delivery & { handler: string })[] }> {
    const user = this.users.get(o.userId);
    if (!user) throw new Error(`user ${o.userId} is not seeded`);
    const found = o.crmEntityType ? undefined : this.search(o.phone)[0];
    const entityType = o.crmEntityType ?? found?.type ?? null;
    const entityId = o.crmEntityType ? (o.crmEntityId ?? null) : (found?.id ?? null);
    const call = this.storeCall({
      origin: 'clickToCall',
      params: {
        USER_ID: String(o.userId),
        PHONE_NUMBER: o.phone,
        TYPE: '1',
        LINE_NUMBER: o.lineNumber ?? '',
      },
      userId: o.userId,
      phone: o.phone,
      type: 1,
      lineNumber: o.lineNumber ?? '',
      externalCallId: '',
      startDate: isoSeconds(this.now()),
      crmEntityType: entityType,
      crmEntityId: entityId,
      createdLeadId: null,
    });
    this.show(call.CALL_ID, [o.userId]);
    const token = this.issueAccessToken(o.userId);
    const deliveries: (Delivery & { handler: string })[] = [];
    for (const binding of this.bindingStore) {
      if (binding.event !== 'ONEXTERNALCALLSTART' || binding.offline) continue;
      const delivery = await this.post(o.deliverTo ?? binding.handler, [
        ['event', 'ONEXTERNALCALLSTART'],
        ['data[PHONE_NUMBER]', o.phone],
        ['data[PHONE_NUMBER_INTERNATIONAL]', international(o.phone)],
        ['data[EXTENSION]', user.extension ?? ''],
        ['data[USER_ID]', String(o.userId)],
        ['data[CALL_LIST_ID]', '0'],
        ['data[LINE_NUMBER]', o.lineNumber ?? ''],
        ['data[IS_MOBILE]', '0'],
        ['data[CALL_ID]', call.CALL_ID],
        ['data[CRM_ENTITY_TYPE]', entityType ?? ''],
        ['data[CRM_ENTITY_ID]', entityId === null ? '' : String(entityId)],
        ['ts', String(this.nowS())],
        ['event_handler_id', String(binding.id)],
        ['auth[access_token]', token],
        ['auth[expires_in]', String(TOKEN_TTL_S)],
        ['auth[scope]', SCOPE],
        ['auth[domain]', this.domain],
        ['auth[server_endpoint]', `${this.url}/rest/`],
        ['auth[status]', 'L'],
        ['auth[client_endpoint]', `${this.url}/rest/`],
        ['auth[member_id]', this.memberId],
        ['auth[application_token]', o.applicationToken ?? this.applicationToken],
      ]);
      deliveries.push({ handler: binding.handler, ...delivery });
    }
    return { callId: call.CALL_ID, deliveries };
  }

  // --- harness hooks ---

  protected override faultBody(status: number): unknown {
    return { error: 'INTERNAL_SERVER_ERROR', error_description: `HTTP ${status}` };
  }

  protected override decodeForm(raw: string): { form: Record<string, unknown> } {
    return { form: decodePhpForm(raw) };
  }

  protected override badFormReply(_field: string): Reply {
    return failure(400, 'ERROR_CORE', 'Request body is not valid JSON');
  }

  protected override authorize(req: SandboxRequest): Reply | null {
    const r = this.inspect(req);
    if (r.restMethod === undefined) return null;
    if (r.webhook) {
      if (this.webhooks.get(r.webhook.secret) !== r.webhook.userId)
        return failure(401, 'INVALID_CREDENTIALS', 'Invalid request credentials');
      this.callers.set(req, { userId: r.webhook.userId, webhook: true });
      return null;
    }
    const token = r.params.auth;
    if (typeof token !== 'string' || !token)
      return failure(401, 'NO_AUTH_FOUND', 'Wrong authorization data');
    const grant = this.accessTokens.get(token);
    if (!grant) return failure(401, 'invalid_token', 'The access token provided is invalid.');
    if (grant.expiresAt <= this.now())
      return failure(401, 'expired_token', 'The access token provided has expired.');
    this.callers.set(req, { userId: grant.userId, webhook: false });
    return null;
  }

  protected override handlerError(err: unknown): Reply {
    if (err instanceof MethodError) return this.errorReply(err);
    return failure(500, 'INTERNAL_SERVER_ERROR', `sandbox: ${(err as Error).message}`);
  }

  protected override notFound(req: SandboxRequest): Reply {
    return req.path.startsWith('/rest/')
      ? failure(404, 'ERROR_METHOD_NOT_FOUND', 'Method not found!')
      : failure(404, 'NOT_FOUND', 'Not found');
  }

  // --- the REST entry point ---

  /**
   * The method, webhook and merged parameters of a request, kept on the recorded request so a
   * test can compare parameters wherever the client put them (query, form or JSON).
   */
  private inspect(req: SandboxRequest): Bitrix24Request {
    const known = req as Bitrix24Request;
    if (known.params) return known;
    const query = decodePhpPairs(Object.entries(req.query));
    const body = isObject(req.json) ? req.json : req.form;
    const described: Omit<Bitrix24Request, keyof SandboxRequest> = {
      params: merge(query, body),
    };
    const rest = /^\/rest\/(.*)$/.exec(req.path);
    if (rest) {
      const parts = rest[1].split('/');
      let name = parts.join('/');
      if (parts.length === 3 && /^\d+$/.test(parts[0])) {
        described.webhook = { userId: Number(parts[0]), secret: parts[1] };
        name = parts[2];
      }
      described.restMethod = decodeURIComponent(name)
        .toLowerCase()
        .replace(/\.json$/, '');
    }
    return Object.assign(req, described);
  }

  private async rest(req: SandboxRequest): Promise<Reply> {
    const r = this.inspect(req);
    const caller = this.callers.get(req)!;
    const { auth: _auth, ...params } = r.params;
    const answer = await this.invoke(r.restMethod ?? '', params, caller, false);
    return { status: 200, body: this.envelope(answer, req.at + this.clockOffsetMs) };
  }

  private async invoke(
    name: string,
    params: Params,
    caller: Caller,
    inBatch: boolean,
  ): Promise<Answer> {
    const method = this.methods.get(name);
    if (!method && name !== 'batch')
      throw new MethodError(404, 'ERROR_METHOD_NOT_FOUND', 'Method not found!');
    if (name === 'batch' && inBatch)
      throw new MethodError(
        405,
        'ERROR_BATCH_METHOD_NOT_ALLOWED',
        'Method is not allowed for batch usage',
      );
    if (caller.webhook && APP_ONLY.test(name))
      throw new MethodError(
        401,
        'WRONG_AUTH_TYPE',
        'Current authorization type is denied for this method',
      );
    const blockedUntil = this.operationLimits.get(name);
    if (blockedUntil !== undefined && this.now() < blockedUntil) {
      throw new MethodError(
        429,
        'OPERATION_TIME_LIMIT',
        'Method is blocked due to operation time limit.',
        {
          time: {
            ...this.timing(this.now()),
            operating_reset_at: Math.ceil(blockedUntil / 1000),
          },
        },
      );
    }
    return method ? method(params, caller) : this.batch(params, caller);
  }

  private errorReply(err: MethodError): Reply {
    return {
      status: err.status,
      body: { error: err.code, error_description: err.description, ...err.extra },
    };
  }

  private envelope(answer: Answer, startMs: number): Json {
    const body: Json = { result: answer.result };
    if (answer.next !== undefined) body.next = answer.next;
    if (answer.total !== undefined) body.total = answer.total;
    body.time = this.timing(startMs);
    return body;
  }

  private timing(startMs: number): Json {
    const finishMs = Math.max(this.now(), startMs);
    const start = startMs / 1000;
    const finish = finishMs / 1000;
    return {
      start,
      finish,
      duration: finish - start,
      processing: finish - start,
      date_start: isoSeconds(startMs),
      date_finish: isoSeconds(finishMs),
      operating_reset_at: Math.floor(start) + 600,
      operating: 0,
    };
  }

  private nowS(): number {
    return Math.floor(this.now() / 1000);
  }

  private issueAccessToken(userId: number): string {
    const token = hex(35);
    this.accessTokens.set(token, {
      userId,
      // Whole seconds, so `expires` in the token reply is exact.
      expiresAt: (this.nowS() + TOKEN_TTL_S) * 1000,
    });
    return token;
  }

  // --- OAuth server ---

  private tokenEndpoint(req: SandboxRequest): Reply {
    const p = this.inspect(req).params;
    if (p.grant_type !== 'refresh_token')
      return failure(400, 'unsupported_grant_type', 'Only refresh_token is supported');
    this.refreshCount++;
    if (p.client_id !== this.clientId || p.client_secret !== this.clientSecret)
      return { status: 401, body: { error: 'invalid_client' } };
    if (this.paymentLapsed) return failure(402, 'PAYMENT_REQUIRED', 'Payment required');
    const stored =
      typeof p.refresh_token === 'string' ? this.refreshTokens.get(p.refresh_token) : undefined;
    if (!stored || stored.spent) return failure(400, 'invalid_grant', 'Invalid refresh token');
    stored.spent = true;
    return { status: 200, body: this.issueTokens(stored.userId) };
  }

  // --- batch ---

  private async batch(p: Params, caller: Caller): Promise<Answer> {
    const cmd = param(p, 'cmd') ?? {};
    const commands = Array.isArray(cmd)
      ? cmd.map((v, i) => [String(i), v] as const)
      : isObject(cmd)
        ? Object.entries(cmd)
        : null;
    if (!commands) throw invalid('cmd should be an array of commands');
    if (commands.length > MAX_BATCH)
      throw invalid('Max batch length exceeded', 'ERROR_BATCH_LENGTH_EXCEEDED');
    const halt = flagParam(p, 'halt', false);
    const results: Json = {};
    const errors: Json = {};
    const totals: Json = {};
    const nexts: Json = {};
    const times: Json = {};
    for (const [key, command] of commands) {
      const started = this.now();
      try {
        if (typeof command !== 'string') throw invalid('Command should be a string');
        const at = command.indexOf('?');
        const name = (at < 0 ? command : command.slice(0, at))
          .trim()
          .toLowerCase()
          .replace(/\.json$/, '');
        const { auth: _auth, ...params } = this.substitute(
          at < 0 ? {} : decodePhpForm(command.slice(at + 1)),
          results,
        ) as Params;
        const answer = await this.invoke(name, params, caller, true);
        results[key] = answer.result;
        if (answer.total !== undefined) totals[key] = answer.total;
        if (answer.next !== undefined) nexts[key] = answer.next;
        times[key] = this.timing(started);
      } catch (err) {
        if (!(err instanceof MethodError)) throw err;
        errors[key] = { error: err.code, error_description: err.description };
        if (halt) break;
      }
    }
    return {
      result: {
        result: phpMap(results),
        result_error: phpMap(errors),
        result_total: phpMap(totals),
        result_next: phpMap(nexts),
        result_time: phpMap(times),
      },
    };
  }

  /** Replaces `$result[key][FIELD]...` with earlier results; a whole-value reference keeps its type. */
  private substitute(value: unknown, results: Json): unknown {
    if (typeof value === 'string') {
      const whole = WHOLE_REFERENCE.exec(value);
      if (whole) return this.resolve(results, whole[1], whole[2]) ?? value;
      return value.replace(REFERENCE, (match, key: string, path: string) => {
        const found = this.resolve(results, key, path);
        return typeof found === 'string' || typeof found === 'number' || typeof found === 'boolean'
          ? String(found)
          : match;
      });
    }
    if (Array.isArray(value)) return value.map((v) => this.substitute(v, results));
    if (isObject(value))
      return Object.fromEntries(
        Object.entries(value).map(([k, v]) => [k, this.substitute(v, results)]),
      );
    return value;
  }

  private resolve(results: Json, key: string, path: string): unknown {
    if (!Object.hasOwn(results, key)) return undefined;
    let node: unknown = results[key];
    for (const [, segment] of path.matchAll(/\[([^\]]*)\]/g)) {
      if (Array.isArray(node)) node = node[Number(segment)];
      else if (isObject(node)) node = node[segment];
      else return undefined;
    }
    return node;
  }

  // --- app and users ---

  private appInfo(): Answer {
    return {
      result: {
        ID: APP_ID,
        CODE: this.clientId,
        VERSION: 1,
        STATUS: 'L',
        INSTALLED: true,
        PAYMENT_EXPIRED: 'N',
        DAYS: null,
        LICENSE: 'ru_project',
        LANGUAGE_ID: 'ru',
      },
    };
  }

  /** The user, or for user 1 (who installed the app) a default admin when not seeded. */
  private userOrAdmin(userId: number): StoredUser {
    const user = this.users.get(userId);
    if (user) return user;
    if (userId !== 1) throw invalid('User not found');
    return {
      id: 1,
      name: 'Admin',
      lastName: '',
      email: '',
      extension: null,
      mobile: '',
      workPhone: '',
      active: true,
      admin: true,
      timeman: 'OPENED',
    };
  }

  private profile(caller: Caller): Answer {
    const user = this.userOrAdmin(caller.userId);
    return {
      result: { ID: String(user.id), ADMIN: user.admin, NAME: user.name, LAST_NAME: user.lastName },
    };
  }

  private renderUser(u: StoredUser): Json {
    return {
      ID: String(u.id),
      ACTIVE: u.active,
      NAME: u.name,
      LAST_NAME: u.lastName,
      EMAIL: u.email,
      UF_PHONE_INNER: u.extension,
      PERSONAL_MOBILE: u.mobile,
      WORK_PHONE: u.workPhone,
    };
  }

  private getUsers(p: Params): Answer {
    const filter = param(p, 'FILTER') ?? {};
    if (!isObject(filter)) throw invalid('FILTER should be an object');
    const conditions = Object.entries(filter).map(([key, wanted]) => {
      const field = filterField(key);
      if (!['ID', 'ACTIVE', 'UF_PHONE_INNER'].includes(field))
        throw invalid(`The sandbox does not filter users by ${field}`);
      return { field, wanted };
    });
    const users = [...this.users.values()]
      .sort((a, b) => a.id - b.id)
      .map((u) => this.renderUser(u))
      .filter((u) =>
        conditions.every(({ field, wanted }) =>
          field === 'ACTIVE'
            ? u.ACTIVE === flagParam({ v: wanted }, 'v', true)
            : matchesValue(u[field], wanted),
        ),
      );
    return page(users, p);
  }

  // --- external lines ---

  private addLine(p: Params): Answer {
    const number = textParam(p, 'NUMBER');
    if (!number) throw invalid('NUMBER should not be empty');
    if (this.lineStore.some((l) => l.NUMBER === number)) throw invalid('Line already exists');
    const line: StoredLine = {
      ID: this.nextLineId++,
      NUMBER: number,
      NAME: textParam(p, 'NAME') ?? '',
      CRM_AUTO_CREATE: this.autoCreate(p, 'Y'),
    };
    this.lineStore.push(line);
    return { result: { ID: line.ID } };
  }

  private autoCreate(p: Params, fallback: 'Y' | 'N'): 'Y' | 'N' {
    const value = textParam(p, 'CRM_AUTO_CREATE');
    if (value === undefined || value === '') return fallback;
    if (value !== 'Y' && value !== 'N') throw invalid('CRM_AUTO_CREATE should be Y or N');
    return value;
  }

  private lineOf(p: Params): StoredLine {
    const number = required(p, 'NUMBER');
    const line = this.lineStore.find((l) => l.NUMBER === number);
    if (!line) throw invalid('Line not found');
    return line;
  }

  private updateLine(p: Params): Answer {
    const line = this.lineOf(p);
    line.NAME = textParam(p, 'NAME') ?? line.NAME;
    line.CRM_AUTO_CREATE = this.autoCreate(p, line.CRM_AUTO_CREATE);
    return { result: { ID: line.ID } };
  }

  private deleteLine(p: Params): Answer {
    const line = this.lineOf(p);
    this.lineStore.splice(this.lineStore.indexOf(line), 1);
    return { result: [] };
  }

  // --- CRM search and leads ---

  private leadEntity(lead: StoredLead): StoredEntity {
    return {
      type: 'LEAD',
      id: lead.ID,
      name: lead.NAME || lead.TITLE,
      phones: lead.PHONE.map((ph) => ph.VALUE),
      assignedById: lead.ASSIGNED_BY_ID,
    };
  }

  /** Entities with this phone: contacts, then companies, then leads, each by id. */
  private search(phone: string): StoredEntity[] {
    const key = phoneKey(phone);
    if (!key) return [];
    return [...this.entities, ...this.leadStore.map((l) => this.leadEntity(l))]
      .filter((e) => e.phones.some((ph) => phoneKey(ph) === key))
      .sort((a, b) => ENTITY_ORDER.indexOf(a.type) - ENTITY_ORDER.indexOf(b.type) || a.id - b.id);
  }

  private renderMatch(e: StoredEntity): Json {
    const user = this.users.get(e.assignedById);
    return {
      CRM_ENTITY_TYPE: e.type,
      CRM_ENTITY_ID: e.id,
      ASSIGNED_BY_ID: e.assignedById,
      NAME: e.name,
      ASSIGNED_BY: {
        ID: String(e.assignedById),
        TIMEMAN_STATUS: user?.timeman ?? 'UNAVAILABLE',
        USER_PHONE_INNER: user?.extension ?? null,
        WORK_PHONE: user?.workPhone || null,
        PERSONAL_PHONE: null,
        PERSONAL_MOBILE: user?.mobile || null,
      },
    };
  }

  private storeLead(fields: Json): StoredLead {
    const given = fields.ID as number | undefined;
    const id = given ?? this.nextLeadId;
    this.nextLeadId = Math.max(this.nextLeadId, id + 1);
    const phones = (fields.PHONE as { VALUE: string; VALUE_TYPE?: string }[] | undefined) ?? [];
    const lead: StoredLead = {
      ID: id,
      TITLE: (fields.TITLE as string | undefined) || `Лид #${id}`,
      NAME: (fields.NAME as string | undefined) ?? null,
      SOURCE_ID: (fields.SOURCE_ID as string | undefined) ?? null,
      STATUS_ID: (fields.STATUS_ID as string | undefined) ?? 'NEW',
      ASSIGNED_BY_ID: fields.ASSIGNED_BY_ID as number,
      ORIGINATOR_ID: (fields.ORIGINATOR_ID as string | undefined) ?? null,
      ORIGIN_ID: (fields.ORIGIN_ID as string | undefined) ?? null,
      COMMENTS: (fields.COMMENTS as string | undefined) ?? null,
      PHONE: phones.map((ph) => ({
        ID: this.nextPhoneId++,
        VALUE: ph.VALUE,
        VALUE_TYPE: ph.VALUE_TYPE ?? 'WORK',
      })),
      DATE_CREATE: isoSeconds(this.now()),
    };
    // Other fields are kept as sent, after the known ones.
    for (const [key, value] of Object.entries(fields)) if (!(key in lead)) lead[key] = value;
    this.leadStore.push(lead);
    return lead;
  }

  private addLead(p: Params, caller: Caller): Answer {
    const fields = param(p, 'FIELDS');
    if (!isObject(fields)) throw invalid('FIELDS should be an object');
    const phones = fields.PHONE ?? [];
    if (
      !Array.isArray(phones) ||
      !phones.every((ph) => isObject(ph) && typeof ph.VALUE === 'string' && ph.VALUE)
    )
      throw invalid('PHONE should be a list of {VALUE, VALUE_TYPE}');
    const assigned = intParam(fields, 'ASSIGNED_BY_ID') ?? caller.userId;
    const { ID: _id, ...rest } = fields;
    const lead = this.storeLead({ ...rest, PHONE: phones, ASSIGNED_BY_ID: assigned });
    return { result: lead.ID };
  }

  /** A lead as crm.lead.get answers it: ids as strings, phones with their TYPE_ID. */
  private renderLead(lead: StoredLead): Json {
    const wire: Json = {};
    for (const [key, value] of Object.entries(lead)) {
      if (key === 'PHONE') {
        wire.PHONE = lead.PHONE.map((ph) => ({
          ID: String(ph.ID),
          VALUE_TYPE: ph.VALUE_TYPE,
          VALUE: ph.VALUE,
          TYPE_ID: 'PHONE',
        }));
      } else {
        wire[key] = typeof value === 'number' ? String(value) : value;
      }
    }
    return wire;
  }

  private getLead(p: Params): Answer {
    const id = intParam(p, 'ID');
    if (id === undefined) throw invalid('ID is not defined or invalid');
    const lead = this.leadStore.find((l) => l.ID === id);
    if (!lead) throw invalid('Not found', 'NOT_FOUND');
    return { result: this.renderLead(lead) };
  }

  private listLeads(p: Params): Answer {
    const filter = param(p, 'FILTER') ?? {};
    if (!isObject(filter)) throw invalid('FILTER should be an object');
    const selected = param(p, 'SELECT');
    const select = Array.isArray(selected) ? selected.map(String) : ['*'];
    const found = this.leadStore
      .map((l) => this.renderLead(l))
      .filter((l) =>
        Object.entries(filter).every(([key, wanted]) => matchesValue(l[filterField(key)], wanted)),
      )
      .sort((a, b) => Number(a.ID) - Number(b.ID));
    const listed = page(found, p);
    // Lists leave out multi-fields (PHONE) unless selected by name, as Bitrix24 does.
    const all = select.includes('*');
    const pick = (lead: Json) =>
      Object.fromEntries(
        Object.entries(lead).filter(
          ([key]) => key === 'ID' || select.includes(key) || (all && key !== 'PHONE'),
        ),
      );
    return { ...listed, result: listed.result.map(pick) };
  }

  // --- calls ---

  private userOfCall(p: Params): StoredUser {
    const id = intParam(p, 'USER_ID');
    if (id !== undefined) {
      const user = this.users.get(id);
      if (!user) throw invalid(`User ${id} is not found`);
      return user;
    }
    const inner = textParam(p, 'USER_PHONE_INNER');
    const user = inner ? [...this.users.values()].find((u) => u.extension === inner) : undefined;
    if (!user) throw invalid('USER_ID or USER_PHONE_INNER should be set');
    return user;
  }

  private storeCall(call: Omit<StoredCall, 'CALL_ID' | 'registeredAt' | 'finished'>): StoredCall {
    const stored: StoredCall = {
      CALL_ID: `externalCall.${hex(16)}.${this.nowS()}`,
      ...call,
      registeredAt: this.now(),
      finished: false,
    };
    this.callStore.push(stored);
    return stored;
  }

  /** What the 30-minute rule compares: the listed parameters as sent. */
  private reuseKey(p: Params): string {
    return JSON.stringify(
      [
        'PHONE_NUMBER',
        'TYPE',
        'USER_ID',
        'USER_PHONE_INNER',
        'LINE_NUMBER',
        'EXTERNAL_CALL_ID',
      ].map((name) => textParam(p, name) ?? ''),
    );
  }

  private register(p: Params): Answer {
    const user = this.userOfCall(p);
    const phone = required(p, 'PHONE_NUMBER');
    if (!digitsOf(phone)) throw invalid('Unsupported phone number format');
    const type = intParam(p, 'TYPE');
    if (type === undefined || type < 1 || type > 5)
      throw invalid('TYPE should be one of 1, 2, 3, 4, 5');
    const startDate = textParam(p, 'CALL_START_DATE');
    if (startDate && Number.isNaN(Date.parse(startDate)))
      throw invalid('CALL_START_DATE should be a date in ISO 8601');
    const entityType = textParam(p, 'CRM_ENTITY_TYPE');
    if (entityType && !ENTITY_ORDER.includes(entityType as CrmEntityType))
      throw invalid('CRM_ENTITY_TYPE should be CONTACT, COMPANY or LEAD');
    const entityId = intParam(p, 'CRM_ENTITY_ID');

    const key = this.reuseKey(p);
    const since = this.now() - REUSE_WINDOW_MS;
    const earlier = this.callStore.find(
      (c) =>
        c.origin === 'register' &&
        !c.finished &&
        c.registeredAt >= since &&
        this.reuseKey(c.params) === key,
    );
    if (earlier) {
      return {
        result: {
          CALL_ID: earlier.CALL_ID,
          CRM_CREATED_LEAD: null,
          CRM_CREATED_ENTITIES: [],
          CRM_ENTITY_TYPE: earlier.crmEntityType,
          CRM_ENTITY_ID: earlier.crmEntityId,
        },
      };
    }

    const lineNumber = textParam(p, 'LINE_NUMBER') ?? '';
    let bound: { type: CrmEntityType; id: number } | null =
      entityType && entityId !== undefined
        ? { type: entityType as CrmEntityType, id: entityId }
        : null;
    if (!bound) {
      const found = this.search(phone)[0];
      if (found) bound = { type: found.type, id: found.id };
    }
    // An outgoing call's lead also depends on its line allowing it.
    const line = this.lineStore.find((l) => l.NUMBER === lineNumber);
    const mayCreate = type !== 1 || line?.CRM_AUTO_CREATE !== 'N';
    let createdLead: StoredLead | null = null;
    if (!bound && flagParam(p, 'CRM_CREATE', false) && mayCreate) {
      createdLead = this.storeLead({
        TITLE: `${type === 1 ? 'Исходящий звонок' : 'Входящий звонок'} ${phone}`,
        SOURCE_ID: textParam(p, 'CRM_SOURCE') || 'CALL',
        ASSIGNED_BY_ID: user.id,
        PHONE: [{ VALUE: phone, VALUE_TYPE: 'WORK' }],
      });
      bound = { type: 'LEAD', id: createdLead.ID };
    }
    const call = this.storeCall({
      origin: 'register',
      params: { ...p },
      userId: user.id,
      phone,
      type,
      lineNumber,
      externalCallId: textParam(p, 'EXTERNAL_CALL_ID') ?? '',
      startDate: startDate || isoSeconds(this.now()),
      crmEntityType: bound?.type ?? null,
      crmEntityId: bound?.id ?? null,
      createdLeadId: createdLead?.ID ?? null,
    });
    this.card(call.CALL_ID);
    if (flagParam(p, 'SHOW', true)) this.show(call.CALL_ID, [user.id]);
    return {
      result: {
        CALL_ID: call.CALL_ID,
        CRM_CREATED_LEAD: createdLead?.ID ?? null,
        CRM_CREATED_ENTITIES: createdLead
          ? [{ ENTITY_TYPE: 'LEAD', ENTITY_ID: createdLead.ID }]
          : [],
        CRM_ENTITY_TYPE: call.crmEntityType,
        CRM_ENTITY_ID: call.crmEntityId,
      },
    };
  }

  private emptyCard(): CallCard {
    return { shown: [], hidden: [], visible: [], showRequests: 0, hideRequests: 0 };
  }

  private card(callId: string): CallCard {
    let card = this.cardStore.get(callId);
    if (!card) this.cardStore.set(callId, (card = this.emptyCard()));
    return card;
  }

  private show(callId: string, users: number[]): void {
    const card = this.card(callId);
    for (const id of users) {
      if (!card.shown.includes(id)) card.shown.push(id);
      if (!card.visible.includes(id)) card.visible.push(id);
    }
  }

  private showOrHide(p: Params, action: 'show' | 'hide'): Answer {
    const callId = required(p, 'CALL_ID');
    const call = this.callStore.find((c) => c.CALL_ID === callId && !c.finished);
    if (!call) return { result: false };
    const given = param(p, 'USER_ID');
    const list =
      given === undefined || given === ''
        ? [call.userId]
        : Array.isArray(given)
          ? given
          : isObject(given)
            ? Object.values(given)
            : [given];
    const users = list.map((v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n <= 0) throw invalid('USER_ID should be an integer or a list');
      return n;
    });
    const card = this.card(callId);
    if (action === 'show') {
      card.showRequests++;
      this.show(callId, users);
    } else {
      card.hideRequests++;
      for (const id of users) if (!card.hidden.includes(id)) card.hidden.push(id);
      card.visible = card.visible.filter((id) => !users.includes(id));
    }
    return { result: true };
  }

  private finish(p: Params): Answer {
    const callId = textParam(p, 'CALL_ID') ?? '';
    const call = this.callStore.find((c) => c.CALL_ID === callId && !c.finished);
    if (!call) throw invalid('Call is not found (call should be registered prior to finishing)');
    const user = this.userOfCall(p);
    const duration = intParam(p, 'DURATION') ?? 0;
    if (duration < 0) throw invalid('DURATION should not be negative');
    const statusCode = textParam(p, 'STATUS_CODE') || (duration > 0 ? '200' : '304');
    if (!STATUS_CODES.includes(statusCode)) throw invalid(`Unknown STATUS_CODE ${statusCode}`);
    const vote = intParam(p, 'VOTE');
    if (vote !== undefined && (vote < 1 || vote > 5)) throw invalid('VOTE should be from 1 to 5');
    const costText = textParam(p, 'COST');
    const cost = costText === undefined || costText === '' ? 0 : Number(costText);
    if (!Number.isFinite(cost)) throw invalid('COST should be a number');

    call.finished = true;
    this.card(callId).visible = [];
    // The finishing user becomes responsible for what register created.
    const created = this.leadStore.find((l) => l.ID === call.createdLeadId);
    if (created) created.ASSIGNED_BY_ID = user.id;
    let activityId: number | null = null;
    if (call.crmEntityType && call.crmEntityId !== null) {
      activityId = this.nextActivityId++;
      this.activityStore.push({
        ID: activityId,
        OWNER_TYPE: call.crmEntityType,
        OWNER_ID: call.crmEntityId,
        CALL_ID: callId,
        DIRECTION: call.type === 1 ? 'outgoing' : 'incoming',
        DURATION: duration,
        RESPONSIBLE_ID: user.id,
        STATUS_CODE: statusCode,
      });
    }
    const record: StatisticRecord = {
      ID: this.nextStatisticId++,
      CALL_ID: callId,
      EXTERNAL_CALL_ID: call.externalCallId || null,
      PORTAL_USER_ID: user.id,
      PHONE_NUMBER: call.phone,
      PORTAL_NUMBER: call.lineNumber || `REST_APP:${APP_ID}`,
      INCOMING: call.type,
      CALL_DURATION: duration,
      CALL_START_DATE: call.startDate,
      CALL_STATUS: statusCode === '200' ? 1 : 0,
      CALL_VOTE: vote ?? null,
      COST: cost,
      COST_CURRENCY: textParam(p, 'COST_CURRENCY') ?? '',
      CALL_FAILED_CODE: statusCode,
      CALL_FAILED_REASON: textParam(p, 'FAILED_REASON') ?? '',
      REST_APP_ID: APP_ID,
      REST_APP_NAME: APP_NAME,
      CRM_ACTIVITY_ID: activityId,
      COMMENT: null,
      CRM_ENTITY_TYPE: call.crmEntityType,
      CRM_ENTITY_ID: call.crmEntityId,
    };
    this.statisticStore.push(record);
    return { result: { ...record } };
  }

  private getStatistics(p: Params): Answer {
    const filter = param(p, 'FILTER') ?? {};
    if (!isObject(filter)) throw invalid('FILTER should be an object');
    const found = this.statisticStore.filter((s) =>
      Object.entries(filter).every(([key, wanted]) =>
        matchesValue((s as unknown as Json)[filterField(key)], wanted),
      ),
    );
    return page(
      found.map((s) => ({ ...s })),
      p,
    );
  }

  private async attachRecord(p: Params): Promise<Answer> {
    this.attachRequests++;
    const callId = required(p, 'CALL_ID');
    if (!this.statisticStore.some((s) => s.CALL_ID === callId))
      throw invalid('Call is not found in the statistic table');
    const content = textParam(p, 'FILE_CONTENT');
    const url = textParam(p, 'RECORD_URL');
    let fileName = textParam(p, 'FILENAME');
    let bytes: Buffer;
    if (content) {
      if (!fileName) throw invalid('FILENAME should not be empty');
      this.checkExtension(fileName);
      const base64 = content.replace(/\s/g, '');
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(base64) || base64.length % 4 !== 0)
        throw invalid('FILE_CONTENT is not valid base64');
      bytes = Buffer.from(base64, 'base64');
    } else if (url) {
      fileName ||= decodeURIComponent(new URL(url, 'http://x').pathname.split('/').pop() ?? '');
      this.checkExtension(fileName);
      bytes = await this.download(url);
    } else {
      // The FILENAME-only flow (an upload URL) is not simulated.
      throw invalid('FILE_CONTENT or RECORD_URL should be set');
    }
    const record: CallRecord = { fileId: this.nextFileId++, fileName, bytes };
    if (!content && url) record.url = url;
    this.recordStore.set(callId, record);
    return { result: { FILE_ID: record.fileId } };
  }

  private checkExtension(fileName: string): void {
    if (!/\.(mp3|wav)$/i.test(fileName)) throw invalid('Wrong file extension');
  }

  private async download(url: string): Promise<Buffer> {
    if (!isLoopback(url)) throw invalid('The sandbox downloads records from loopback only');
    let res: Response;
    try {
      res = await fetch(url, {
        redirect: 'manual',
        signal: AbortSignal.timeout(DOWNLOAD_TIMEOUT_MS),
      });
    } catch {
      throw invalid('Server returns HTTP error code 0');
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw invalid(`Server returns HTTP error code ${res.status}`);
    }
    return Buffer.from(await res.arrayBuffer());
  }

  // --- events ---

  private bind(p: Params): Answer {
    const event = (textParam(p, 'event') ?? '').toUpperCase();
    if (!event) throw invalid('event should not be empty');
    if (!KNOWN_EVENTS.includes(event)) throw invalid('Event not found');
    const offline = (textParam(p, 'event_type') ?? 'online').toLowerCase() === 'offline';
    const handler = textParam(p, 'handler') ?? '';
    if (!offline) {
      if (!handler) throw invalid('Handler should not be empty');
      if (!/^https?:\/\/./i.test(handler)) throw invalid('Wrong handler URL');
    }
    if (this.bindingStore.some((b) => b.event === event && b.handler === handler))
      throw invalid('Handler already binded');
    this.bindingStore.push({
      id: this.nextBindingId++,
      event,
      handler,
      authType: intParam(p, 'auth_type') ?? 0,
      offline,
    });
    return { result: true };
  }

  private unbind(p: Params): Answer {
    const event = (textParam(p, 'event') ?? '').toUpperCase();
    if (!event) throw invalid('event should not be empty');
    const handler = textParam(p, 'handler');
    let count = 0;
    for (let i = this.bindingStore.length - 1; i >= 0; i--) {
      const b = this.bindingStore[i];
      if (b.event === event && (handler === undefined || b.handler === handler)) {
        this.bindingStore.splice(i, 1);
        count++;
      }
    }
    return { result: { count } };
  }

  /** One POST of a form to a loopback handler; no retries, as Bitrix24 makes none. */
  private async post(url: string, pairs: [string, string][]): Promise<Delivery> {
    if (!isLoopback(url))
      return { status: 0, body: 'the sandbox delivers to loopback addresses only' };
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          'user-agent': 'Bitrix24 Webhook Engine',
        },
        body: new URLSearchParams(pairs).toString(),
        redirect: 'manual',
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
      });
      return { status: res.status, body: await res.text() };
    } catch (err) {
      return { status: 0, body: (err as Error).message };
    }
  }
}

/** The conformance suite's fixture, with the sandbox it runs against. */
export type Bitrix24ConformanceFixture = ConformanceFixture & { sandbox: Bitrix24Sandbox };

/**
 * A started sandbox with one user and one contact stored in the "8 (…)" spelling, and the
 * tokens an install gave. Tokens cannot tell a wrong client secret (only a refresh can), so the
 * bad credentials also name another app: app.info's CODE is the client id, which a credential
 * check compares.
 */
export async function bitrix24ConformanceFixture(): Promise<Bitrix24ConformanceFixture> {
  const sandbox = new Bitrix24Sandbox();
  sandbox.addUser({ id: 11, name: 'Ivan', lastName: 'Petrov', extension: '101' });
  sandbox.addContact({
    id: 797,
    name: 'Anna Smirnova',
    phones: ['8 (916) 123-45-67'],
    assignedById: 11,
  });
  const url = await sandbox.start();
  const issued = sandbox.issueTokens();
  const timeoutMs = 400;
  return {
    sandbox,
    config: { portalUrl: url, oauthUrl: url, timeoutMs },
    credentials: { clientId: sandbox.clientId, clientSecret: sandbox.clientSecret },
    badCredentials: { clientId: 'local.000000000000000.00000000', clientSecret: 'wrong' },
    tokens: {
      accessToken: issued.access_token,
      refreshToken: issued.refresh_token,
      expiresAt: new Date(issued.expires * 1000).toISOString(),
      extra: {
        clientEndpoint: issued.client_endpoint,
        memberId: sandbox.memberId,
        applicationToken: sandbox.applicationToken,
        domain: sandbox.domain,
      },
    },
    knownPhone: '+79161234567',
    knownContactId: '797',
    knownResponsibleCrmUserId: '11',
    unknownPhone: '+74990001122',
    timeoutMs,
    failNext: (status, retryAfterS) => sandbox.failNext(1, { status, retryAfterS }),
    hangNext: (ms) => sandbox.hangNext(1, ms),
    requests: () => sandbox.requests,
    expectedLookupRequests: (phone) => {
      // `params` merges query and body, so the token may travel in either.
      const lookup: Partial<RecordedRequest> & { params: Params } = {
        method: 'POST',
        path: '/rest/telephony.externalCall.searchCrmEntities',
        params: { PHONE_NUMBER: digitsOf(phone), auth: issued.access_token },
      };
      return [lookup];
    },
    close: () => sandbox.stop(),
  };
}
