import type { AxiosInstance } from 'axios';
import { timingSafeEqual } from 'node:crypto';
import {
  BaseConnector,
  CallActionInput,
  CallbackRequest,
  CallbackResult,
  CallInfo,
  clientLabel,
  ConnectorContext,
  ConnectorError,
  ContactMatch,
  CrmUser,
  InstallInput,
  isConnectorError,
  LeadInput,
  LeadOutcome,
  LogInput,
  LogOutcome,
  LookupInput,
  PopInput,
  ResponsibleUser,
  TokenSet,
} from '../../src/connector-sdk';
import {
  B24Binding,
  B24Entity,
  B24Line,
  B24Registered,
  B24StatRecord,
  B24User,
  BATCH_LIMIT,
  BatchReply,
  Bitrix24Client,
  command,
} from './bitrix24.client';
import { describeB24, isCallNotFound, type B24Error } from './bitrix24.errors';
import {
  CALL_TYPE,
  digits,
  startDate,
  statusCode,
  talkSeconds,
  toContact,
  toCrmUser,
  toResponsible,
  userIdOf,
} from './bitrix24.mapper';
import { Bitrix24Config, Bitrix24Credentials } from './bitrix24.schema';

export type Bitrix24Context = ConnectorContext<Bitrix24Config, Bitrix24Credentials>;

/** The grant's extras the connector keeps: where the portal's API is, and the event secret. */
export interface Bitrix24Grant {
  clientEndpoint: string;
  memberId: string;
  applicationToken: string;
  domain: string;
  userId?: string;
}

/** Per-call memory in the hub. */
const STATE = {
  /** The Bitrix24 user the call is registered for; the first action to choose decides. */
  owner: 'b24.owner',
  /** Bitrix24's CALL_ID of the call, and the lead its register created. */
  call: 'b24.call',
  /** A finish went out: a retry first asks Bitrix24 whether it arrived. */
  finishing: 'b24.finishing',
  /** The recording link attached with the finish. */
  record: 'b24.record',
  /** The Bitrix24 users the card was shown to. */
  shown: 'b24.shown',
} as const;

interface Registration {
  callId: string;
  leadId?: string;
}

/** A click-to-call Bitrix24 registered, waiting for the PBX to report the call. */
interface PendingClick {
  callId: string;
  userId: number;
  at: number;
}

/** The portal's users are read again after this. */
const USERS_TTL_MS = 5 * 60_000;
/** user.get answers 50 a page; a portal of more than 5,000 users is not one we expect. */
const USERS_PER_PAGE = 50;
const MAX_USER_PAGES = 100;
/** The PBX reports the call a click placed within this; a click is kept until its call is logged. */
const CLICK_MATCH_MS = 2 * 60_000;
const CLICK_TTL_S = 12 * 3600;
/** The commands one call's log may take: register, hide, finish, attachRecord. */
const COMMANDS_PER_CALL = 4;
/** Calls one logCalls carries: one batch request takes ⌊50 / 4⌋ of them. */
export const CALLS_PER_LOG = 12;

/** Reads a form field Bitrix24 sends PHP-style (`auth[domain]`), flat or already nested. */
function field(body: Record<string, unknown>, group: string, name: string): string | undefined {
  const nested = body[group];
  const v =
    nested && typeof nested === 'object'
      ? (nested as Record<string, unknown>)[name]
      : body[`${group}[${name}]`];
  return typeof v === 'string' ? v : typeof v === 'number' ? String(v) : undefined;
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function hostOf(url: string): string | null {
  try {
    return new URL(url).host.toLowerCase();
  } catch {
    return null;
  }
}

function clickKey(phone: string): string {
  return `click:${digits(phone)}`;
}

/** The definition (index.ts) checks at compile time that this class has its capabilities' methods. */
export class Bitrix24Connector implements BaseConnector {
  private readonly client: Bitrix24Client;
  private api?: Promise<AxiosInstance>;
  private directory?: { at: number; users: Promise<B24User[]> };

  constructor(private readonly ctx: Bitrix24Context) {
    this.client = new Bitrix24Client(
      () => this.apiClient(),
      () => ctx.clock.now().getTime(),
    );
  }

  /** The portal answers with the stored token, and the token belongs to this application. */
  async verifyCredentials(): Promise<void> {
    const info = await this.client.call<{ CODE?: string; PAYMENT_EXPIRED?: string }>('app.info');
    if (info.CODE && info.CODE !== this.ctx.credentials.clientId) {
      throw ConnectorError.authInvalid(
        `Bitrix24 app.info: the portal's grant belongs to the application ${info.CODE}`,
        'clientId',
      );
    }
    if (info.PAYMENT_EXPIRED === 'Y') {
      throw ConnectorError.authInvalid(
        "Bitrix24 app.info: the application's subscription has expired",
        'accessToken',
      );
    }
  }

  async findContact({ phone }: LookupInput): Promise<ContactMatch | null> {
    const found = await this.search(phone);
    return found ? toContact(found, this.ctx.config.portalUrl, this.onShiftOnly) : null;
  }

  async findResponsible({ phone }: LookupInput): Promise<ResponsibleUser | null> {
    const found = await this.search(phone);
    return found ? toResponsible(found, this.onShiftOnly) : null;
  }

  /**
   * Shows the card to the ringing agents. The first pop registers the call (no card of its
   * own) and shows it in the same batch request; later pops (more agents ringing) only show.
   */
  async showCall({ call, target }: PopInput): Promise<void> {
    if (call.direction !== 'inbound' || !call.customerPhone) return;
    const users = await this.usersOf(
      target.agents ?? target.extensions.map((extension) => ({ extension })),
    );
    if (users.length === 0) {
      this.ctx.logger.warn('no Bitrix24 user for the ringing extensions', {
        callId: call.callId,
        extensions: target.extensions,
      });
      return;
    }
    const known = await this.registration(call.callId);
    if (known) {
      await this.client.call('telephony.externalCall.show', {
        CALL_ID: known.callId,
        USER_ID: users,
      });
      await this.rememberShown(call.callId, users);
      return;
    }
    const owner = await this.ownerOf(call, users[0]);
    const reply = await this.client.batch(
      {
        reg: command('telephony.externalCall.register', this.registerParams(call, owner)),
        show: command('telephony.externalCall.show', {
          CALL_ID: '$result[reg][CALL_ID]',
          USER_ID: users,
        }),
      },
      true,
    );
    await this.registered(call, reply.results.reg, reply.errors.reg);
    if (reply.errors.show)
      throw this.client.subError(reply.errors.show, 'telephony.externalCall.show');
    await this.rememberShown(call.callId, users);
  }

  /**
   * Closes the card for those it was shown to who did not answer; the answerer keeps theirs.
   * When the call is logged the finish's batch carries the hide, so it costs no request.
   */
  async hideCall({ call }: PopInput): Promise<void> {
    if (this.ctx.settings.logCalls && call.status === 'ended') return;
    const known = await this.registration(call.callId);
    if (!known) return;
    const users = await this.toHide(call, await this.answererOf(call));
    if (users.length === 0) return;
    await this.client.call('telephony.externalCall.hide', {
      CALL_ID: known.callId,
      USER_ID: users,
    });
  }

  /**
   * Finishes the calls in as few batch requests as the 50-command limit allows: a call not
   * registered yet (outgoing ones) is registered in the same batch and its finish refers to
   * the new CALL_ID; a recording already known is attached right after its finish.
   */
  async logCalls({ items }: LogInput): Promise<LogOutcome[]> {
    const outcomes = new Map<string, LogOutcome>();
    const pending: CallInfo[] = [];
    for (const { call } of items) {
      if (call.direction === 'internal')
        outcomes.set(call.callId, { callId: call.callId, ok: true });
      else if (!call.customerPhone) {
        outcomes.set(call.callId, {
          callId: call.callId,
          ok: false,
          error: 'Bitrix24 registers calls by the client number; this call has none',
        });
      } else pending.push(call);
    }
    const fresh = await this.reconcile(pending, outcomes);
    const perBatch = Math.floor(BATCH_LIMIT / COMMANDS_PER_CALL);
    let retry: ConnectorError | null = null;
    for (let i = 0; i < fresh.length; i += perBatch) {
      const failure = await this.finishBatch(fresh.slice(i, i + perBatch), outcomes);
      retry ??= failure;
    }
    // A throttled or failed command is worth another try: the whole log is retried, and
    // the finishes that did arrive are found again by reconcile.
    if (retry) throw retry;
    return items.map(({ call }) => outcomes.get(call.callId) as LogOutcome);
  }

  /** Attaches the recording after the finish, unless the finish carried it already. */
  async attachRecording({ call }: CallActionInput): Promise<void> {
    if (!call.recordingUrl) return;
    if ((await this.ctx.callState.get<string>(call.callId, STATE.record)) === call.recordingUrl)
      return;
    const known = await this.registration(call.callId);
    if (!known) {
      throw ConnectorError.rejected('Bitrix24 attachRecord: the call was never registered');
    }
    await this.client.call('telephony.externalCall.attachRecord', {
      CALL_ID: known.callId,
      FILENAME: `${safeName(call.callId)}.mp3`,
      RECORD_URL: call.recordingUrl,
    });
    await this.ctx.callState.set(call.callId, STATE.record, call.recordingUrl);
  }

  /**
   * For an unknown caller, the lead Bitrix24 created when the call was registered with
   * CRM_CREATE (registering it now if it was not); otherwise, or when Bitrix24 created none,
   * a lead of our own, marked with the action's key so a retry finds it.
   */
  async createLead({ call, idempotencyKey }: LeadInput): Promise<LeadOutcome> {
    if (!call.customerPhone) {
      throw ConnectorError.rejected(
        `Bitrix24 lead needs the caller's number; call ${call.callId} has none`,
      );
    }
    if (this.ctx.settings.createLeadFor === 'unknown' && call.direction === 'inbound') {
      const known = await this.registration(call.callId);
      const reg = known ?? (await this.register(call, await this.ownerOf(call)));
      if (reg.leadId) return { externalId: reg.leadId };
    }
    const owner = await this.ownerOf(call);
    const id = await this.client.call<number | string>('crm.lead.add', {
      fields: {
        TITLE: `${call.result === 'answered' ? 'Call' : 'Missed call'} from ${clientLabel(call)}`,
        SOURCE_ID: this.ctx.config.crmSource ?? 'CALL',
        ASSIGNED_BY_ID: owner,
        ORIGINATOR_ID: 'telephony-hub',
        ORIGIN_ID: idempotencyKey,
        PHONE: [{ VALUE: call.customerPhone, VALUE_TYPE: 'WORK' }],
      },
    });
    return { externalId: String(id) };
  }

  async findLead({ call, idempotencyKey }: CallActionInput): Promise<LeadOutcome | null> {
    const known = await this.registration(call.callId);
    if (known?.leadId) return { externalId: known.leadId };
    const leads = await this.client.call<{ ID: string | number }[]>('crm.lead.list', {
      filter: { ORIGINATOR_ID: 'telephony-hub', ORIGIN_ID: idempotencyKey },
      select: ['ID'],
    });
    return Array.isArray(leads) && leads[0] ? { externalId: String(leads[0].ID) } : null;
  }

  /** Every active user of the portal with the internal number Bitrix24 keeps for them. */
  async listUsers(): Promise<CrmUser[]> {
    return (await this.portalUsers(true)).map(toCrmUser);
  }

  /**
   * Registers the company lines Bitrix24 does not have yet and binds click-to-call
   * (OnExternalCallStart) to the hub. The agent map stays in the hub: Bitrix24 keeps its own
   * internal numbers (UF_PHONE_INNER), which the hub reads.
   */
  async install(_input: InstallInput): Promise<void> {
    const wanted = [...new Set((this.ctx.config.lines ?? []).map(digits).filter(Boolean))];
    const handler = this.ctx.callbackUrl('events');
    const [lines, bindings] = await Promise.all([
      this.client.call<B24Line[]>('telephony.externalLine.get'),
      this.client.call<B24Binding[]>('event.get'),
    ]);
    const have = new Set((Array.isArray(lines) ? lines : []).map((l) => digits(l.NUMBER)));
    const cmd: Record<string, string> = {};
    const autoCreate = this.ctx.settings.createLeadFor === 'unknown' ? 'Y' : 'N';
    wanted
      .filter((n) => !have.has(n))
      .slice(0, BATCH_LIMIT - 1)
      .forEach((number, i) => {
        cmd[`line${i}`] = command('telephony.externalLine.add', {
          NUMBER: number,
          NAME: this.ctx.config.lineName ?? 'Telephony hub',
          CRM_AUTO_CREATE: autoCreate,
        });
      });
    const bound = (Array.isArray(bindings) ? bindings : []).some(
      (b) => b.event.toUpperCase() === 'ONEXTERNALCALLSTART' && b.handler === handler,
    );
    if (!bound) cmd.bind = command('event.bind', { event: 'OnExternalCallStart', handler });
    const reply = await this.client.batch(cmd);
    for (const [key, e] of Object.entries(reply.errors)) {
      // Another instance added it meanwhile: what was wanted is there.
      if (/already exist|already bind/i.test(e.error_description ?? '')) continue;
      throw this.client.subError(e, key === 'bind' ? 'event.bind' : 'telephony.externalLine.add');
    }
  }

  /** The install handler (ONAPPINSTALL) and the bound events (OnExternalCallStart). */
  async handleCallback(request: CallbackRequest): Promise<CallbackResult> {
    if (request.method !== 'POST') return { status: 405, body: 'POST only' };
    if (request.action === 'install') return this.onInstall(request.body);
    if (request.action === 'events') return this.onEvent(request.body);
    return { status: 404, body: 'no such callback' };
  }

  /**
   * Bitrix24 posts the grant itself when the application is installed. It is taken only for
   * the configured portal, from a portal that answers with it, and never for another
   * portal's member id than the one already connected.
   */
  private async onInstall(body: Record<string, unknown>): Promise<CallbackResult> {
    if (String(body.event ?? '').toUpperCase() !== 'ONAPPINSTALL') {
      return { status: 400, body: 'event must be ONAPPINSTALL' };
    }
    const a = (name: string) => field(body, 'auth', name);
    const accessToken = a('access_token');
    const refreshToken = a('refresh_token');
    const endpoint = a('client_endpoint');
    const memberId = a('member_id');
    const applicationToken = a('application_token');
    const missing = [
      ['auth[access_token]', accessToken],
      ['auth[refresh_token]', refreshToken],
      ['auth[client_endpoint]', endpoint],
      ['auth[member_id]', memberId],
      ['auth[application_token]', applicationToken],
    ].filter(([, v]) => !v || v.length > 500);
    if (missing.length) {
      return { status: 400, body: `${missing.map(([k]) => k).join(', ')} required` };
    }
    if (hostOf(endpoint as string) !== hostOf(this.ctx.config.portalUrl)) {
      return { status: 403, body: 'auth[client_endpoint] is not the configured portal' };
    }
    const stored = (await this.ctx.grantExtras()) as Partial<Bitrix24Grant>;
    if (stored.memberId && stored.memberId !== memberId) {
      return { status: 409, body: 'the integration is connected to another portal' };
    }
    // The portal must answer with the token: a forged install carries none it knows.
    const probe = new Bitrix24Client(
      async () =>
        this.ctx.http({
          baseURL: (endpoint as string).replace(/\/*$/, '/'),
          timeoutMs: this.ctx.config.timeoutMs,
          auth: false,
        }),
      () => this.ctx.clock.now().getTime(),
    );
    const info = await probe
      .call<{ CODE?: string }>('app.info', { auth: accessToken })
      .catch(() => null);
    if (!info) return { status: 401, body: 'the portal did not accept auth[access_token]' };
    if (info.CODE && info.CODE !== this.ctx.credentials.clientId) {
      return { status: 403, body: 'the grant belongs to another application' };
    }
    const expiresIn = Number(a('expires_in') ?? 3600);
    const extra: Bitrix24Grant = {
      clientEndpoint: (endpoint as string).replace(/\/*$/, '/'),
      memberId: memberId as string,
      applicationToken: applicationToken as string,
      domain: a('domain') ?? hostOf(endpoint as string) ?? '',
    };
    const userId = a('user_id');
    if (userId) extra.userId = userId;
    const grant: TokenSet = {
      accessToken: accessToken as string,
      refreshToken: refreshToken as string,
      expiresAt: new Date(
        this.ctx.clock.now().getTime() + (Number.isFinite(expiresIn) ? expiresIn : 3600) * 1000,
      ).toISOString(),
      extra: { ...extra },
    };
    return { status: 200, body: 'OK', grant };
  }

  /**
   * OnExternalCallStart: a user clicked a number. The call is registered already: the hub
   * asks the PBX to place it from that user's extension and keeps the CALL_ID for the call
   * the PBX reports, which is then only finished.
   */
  private async onEvent(body: Record<string, unknown>): Promise<CallbackResult> {
    const stored = (await this.ctx.grantExtras()) as Partial<Bitrix24Grant>;
    const token = field(body, 'auth', 'application_token') ?? '';
    if (!stored.applicationToken || !sameSecret(token, stored.applicationToken)) {
      return { status: 401, body: 'auth[application_token] does not match the install' };
    }
    const event = String(body.event ?? '').toUpperCase();
    if (event !== 'ONEXTERNALCALLSTART') return { status: 200, body: 'ignored' };
    const d = (name: string) => field(body, 'data', name);
    const callId = d('CALL_ID');
    const userId = userIdOf(d('USER_ID'));
    const phone = d('PHONE_NUMBER_INTERNATIONAL') || d('PHONE_NUMBER');
    if (!callId || callId.length > 200 || !userId || !phone || digits(phone).length < 3) {
      return { status: 400, body: 'data[CALL_ID], data[USER_ID] and data[PHONE_NUMBER] required' };
    }
    const directory = await this.portalUsers(false).catch(() => [] as B24User[]);
    const extension =
      d('EXTENSION') ||
      (directory.find((u) => userIdOf(u.ID) === userId)?.UF_PHONE_INNER ?? '').trim() ||
      undefined;
    const click: PendingClick = { callId, userId, at: this.ctx.clock.now().getTime() };
    await this.ctx.store.put(clickKey(phone), click, CLICK_TTL_S);
    return {
      status: 200,
      body: 'OK',
      originate: {
        crmUserId: String(userId),
        ...(extension ? { extension } : {}),
        to: phone,
        onFailure: async (message) => {
          await this.ctx.store.take(clickKey(phone));
          await this.client.call('telephony.externalCall.finish', {
            CALL_ID: callId,
            USER_ID: userId,
            DURATION: 0,
            STATUS_CODE: 'OTHER',
            FAILED_REASON: `the PBX could not place the call: ${message}`.slice(0, 250),
          });
        },
      },
    };
  }

  /** The Bitrix24 user of the agent who has the call, if one maps to a user. */
  private async answererOf(call: CallInfo): Promise<number | undefined> {
    if (!call.extension) return undefined;
    const [user] = await this.usersOf([
      { extension: call.extension, crmUserId: call.crmUserId ?? undefined },
    ]);
    return user;
  }

  /** Those the card was shown to, but the one who answered. */
  private async toHide(call: CallInfo, answerer: number | undefined): Promise<number[]> {
    const shown = (await this.ctx.callState.get<number[]>(call.callId, STATE.shown)) ?? [];
    return shown.filter((u) => u !== answerer || call.result !== 'answered');
  }

  private async rememberShown(callId: string, users: number[]): Promise<void> {
    const before = (await this.ctx.callState.get<number[]>(callId, STATE.shown)) ?? [];
    await this.ctx.callState.set(callId, STATE.shown, [...new Set([...before, ...users])]);
  }

  private get onShiftOnly(): boolean {
    return this.ctx.config.routeOnShiftOnly === true;
  }

  private async search(phone: string): Promise<B24Entity | null> {
    const number = digits(phone);
    if (number.length < 5) return null;
    const found = await this.client.call<B24Entity[]>('telephony.externalCall.searchCrmEntities', {
      PHONE_NUMBER: number,
    });
    return Array.isArray(found) && found.length ? found[0] : null;
  }

  private registration(callId: string): Promise<Registration | undefined> {
    return this.ctx.callState.get<Registration>(callId, STATE.call);
  }

  private registerParams(
    call: CallInfo,
    owner: number,
  ): Record<string, string | number | undefined> {
    const inbound = call.direction === 'inbound';
    return {
      USER_ID: owner,
      PHONE_NUMBER: digits(call.customerPhone),
      TYPE: inbound ? CALL_TYPE.inbound : CALL_TYPE.outbound,
      CALL_START_DATE: startDate(call),
      CRM_CREATE: inbound && this.ctx.settings.createLeadFor === 'unknown' ? 1 : 0,
      CRM_SOURCE: this.ctx.config.crmSource,
      SHOW: 0,
      LINE_NUMBER: digits(call.line) || undefined,
      // Unique per call: Bitrix24 gives a repeated registration within 30 minutes the same
      // CALL_ID, which also makes a retried registration safe.
      EXTERNAL_CALL_ID: call.callId,
    };
  }

  /** Registers the call on its own (a lead before any pop or log). */
  private async register(call: CallInfo, owner: number): Promise<Registration> {
    const clicked = await this.clicked(call);
    if (clicked) return clicked;
    const result = await this.client.call<B24Registered>(
      'telephony.externalCall.register',
      this.registerParams(call, owner),
    );
    return this.registered(call, result, undefined);
  }

  private async registered(
    call: CallInfo,
    result: unknown,
    error: B24Error | undefined,
  ): Promise<Registration> {
    const reg = result as B24Registered | undefined;
    if (!reg?.CALL_ID) {
      throw this.client.subError(
        error ?? { error_description: 'no CALL_ID' },
        'telephony.externalCall.register',
      );
    }
    const lead = reg.CRM_CREATED_LEAD ? String(reg.CRM_CREATED_LEAD) : undefined;
    const registration: Registration = { callId: reg.CALL_ID, ...(lead ? { leadId: lead } : {}) };
    await this.ctx.callState.set(call.callId, STATE.call, registration);
    return registration;
  }

  /** An outgoing call a click in Bitrix24 asked for: Bitrix24 registered it already. */
  private async clicked(call: CallInfo): Promise<Registration | null> {
    if (call.direction !== 'outbound' || !call.customerPhone) return null;
    const click = await this.ctx.store.take<PendingClick>(clickKey(call.customerPhone));
    if (!click) return null;
    const lag = call.startedAt.getTime() - click.at;
    if (lag < -10_000 || lag > CLICK_MATCH_MS) {
      // Another call to the same number: keep the click for the one it asked for.
      const ttl = Math.max(
        1,
        CLICK_TTL_S - Math.round((this.ctx.clock.now().getTime() - click.at) / 1000),
      );
      await this.ctx.store.put(clickKey(call.customerPhone), click, ttl);
      return null;
    }
    await this.ctx.callState.setOnce(call.callId, STATE.owner, { userId: click.userId });
    const registration: Registration = { callId: click.callId };
    await this.ctx.callState.set(call.callId, STATE.call, registration);
    return registration;
  }

  /**
   * The Bitrix24 user the call is registered for: the first choice of any action stands, so
   * every retry and every racing action registers with the same parameters.
   */
  private async ownerOf(call: CallInfo, preferred?: number): Promise<number> {
    const choice =
      preferred ??
      (await this.answererOf(call)) ??
      (await this.usersOf(call.ringing.map((extension) => ({ extension }))))[0] ??
      this.ctx.config.defaultUserId ??
      userIdOf(((await this.ctx.grantExtras()) as Partial<Bitrix24Grant>).userId) ??
      1;
    const owner = await this.ctx.callState.setOnce(call.callId, STATE.owner, { userId: choice });
    return owner.userId;
  }

  /**
   * Bitrix24 users of the agents: the agent map's where it has one, else the portal user
   * whose internal number (UF_PHONE_INNER) is the extension.
   */
  private async usersOf(agents: { extension: string; crmUserId?: string }[]): Promise<number[]> {
    const out = new Set<number>();
    let directory: B24User[] | null = null;
    for (const agent of agents) {
      const mapped = userIdOf(agent.crmUserId);
      if (mapped) {
        out.add(mapped);
        continue;
      }
      // A directory that cannot be read fails the action: a fallback chosen now would stick.
      directory ??= await this.portalUsers(false);
      const found = directory.find((u) => (u.UF_PHONE_INNER ?? '').trim() === agent.extension);
      const id = userIdOf(found?.ID);
      if (id) out.add(id);
    }
    return [...out];
  }

  /** The portal's active users, read at most every five minutes unless `fresh`. */
  private portalUsers(fresh: boolean): Promise<B24User[]> {
    const now = this.ctx.clock.now().getTime();
    if (!fresh && this.directory && now - this.directory.at < USERS_TTL_MS) {
      return this.directory.users;
    }
    const users = (async () => {
      const out: B24User[] = [];
      for (let page = 0; page < MAX_USER_PAGES; page++) {
        const batch = await this.client.call<B24User[]>('user.get', {
          FILTER: { ACTIVE: 'true' },
          start: page * USERS_PER_PAGE,
        });
        const list = Array.isArray(batch) ? batch : [];
        out.push(...list);
        if (list.length < USERS_PER_PAGE) break;
      }
      return out;
    })();
    this.directory = { at: now, users };
    users.catch(() => {
      if (this.directory?.users === users) this.directory = undefined;
    });
    return users;
  }

  /**
   * Calls whose finish went out before (the hub stopped, or the reply was lost) are looked up
   * in Bitrix24's call statistics first: a finish that arrived is not sent again. Returns the
   * calls still to finish.
   */
  private async reconcile(
    calls: CallInfo[],
    outcomes: Map<string, LogOutcome>,
  ): Promise<CallInfo[]> {
    const doubtful: CallInfo[] = [];
    for (const call of calls) {
      if (await this.ctx.callState.get<boolean>(call.callId, STATE.finishing)) doubtful.push(call);
    }
    if (doubtful.length === 0) return calls;
    const cmd: Record<string, string> = {};
    for (const [i, call] of doubtful.slice(0, BATCH_LIMIT).entries()) {
      const known = await this.registration(call.callId);
      cmd[`s${i}`] = command('voximplant.statistic.get', {
        FILTER: known ? { CALL_ID: known.callId } : { EXTERNAL_CALL_ID: call.callId },
      });
    }
    const reply = await this.client.batch(cmd);
    const done = new Set<string>();
    doubtful.slice(0, BATCH_LIMIT).forEach((call, i) => {
      const records = reply.results[`s${i}`];
      const record = Array.isArray(records) ? (records[0] as B24StatRecord | undefined) : undefined;
      if (!record) return;
      done.add(call.callId);
      outcomes.set(call.callId, {
        callId: call.callId,
        ok: true,
        externalId: String(record.ID ?? record.CALL_ID ?? ''),
      });
    });
    return calls.filter((c) => !done.has(c.callId));
  }

  /** One batch request: register what is not registered, finish, attach known recordings. */
  private async finishBatch(
    calls: CallInfo[],
    outcomes: Map<string, LogOutcome>,
  ): Promise<ConnectorError | null> {
    const cmd: Record<string, string> = {};
    const plan: { call: CallInfo; registers: boolean }[] = [];
    for (const [i, call] of calls.entries()) {
      const known = (await this.registration(call.callId)) ?? (await this.clicked(call));
      const answered = await this.answererOf(call);
      // The user the call is registered for: who registers it, and finishes a call no agent took.
      const owner = known && answered !== undefined ? answered : await this.ownerOf(call);
      const answerer = answered ?? owner;
      if (!known) {
        cmd[`r${i}`] = command('telephony.externalCall.register', this.registerParams(call, owner));
      }
      const callRef = known ? known.callId : `$result[r${i}][CALL_ID]`;
      // The cards of those who were shown it and did not answer close in the finish's batch.
      const hide = known ? await this.toHide(call, answered) : [];
      if (known && hide.length) {
        cmd[`h${i}`] = command('telephony.externalCall.hide', {
          CALL_ID: known.callId,
          USER_ID: hide,
        });
      }
      cmd[`f${i}`] = command('telephony.externalCall.finish', {
        CALL_ID: callRef,
        USER_ID: answerer,
        DURATION: talkSeconds(call),
        STATUS_CODE: statusCode(call),
      });
      if (call.recordingUrl) {
        cmd[`a${i}`] = command('telephony.externalCall.attachRecord', {
          CALL_ID: callRef,
          FILENAME: `${safeName(call.callId)}.mp3`,
          RECORD_URL: call.recordingUrl,
        });
      }
      plan.push({ call, registers: !known });
      await this.ctx.callState.set(call.callId, STATE.finishing, true);
    }
    let reply: BatchReply;
    try {
      reply = await this.client.batch(cmd);
    } catch (err) {
      // Held by the hub's own limit: nothing reached Bitrix24, nothing to look up later.
      if (isConnectorError(err) && err.details.notSent) {
        for (const { call } of plan)
          await this.ctx.callState.set(call.callId, STATE.finishing, false);
      }
      throw err;
    }
    let retry: ConnectorError | null = null;
    for (const [i, { call, registers }] of plan.entries()) {
      if (registers && reply.results[`r${i}`]) {
        await this.registered(call, reply.results[`r${i}`], undefined);
      }
      const finished = reply.results[`f${i}`] as B24StatRecord | undefined;
      // A failed registration fails its finish too; its own error says why.
      const error = (registers ? reply.errors[`r${i}`] : undefined) ?? reply.errors[`f${i}`];
      if (finished && !error) {
        outcomes.set(call.callId, {
          callId: call.callId,
          ok: true,
          externalId: String(finished.ID ?? finished.CALL_ID ?? ''),
        });
        if (call.recordingUrl && reply.results[`a${i}`] && !reply.errors[`a${i}`]) {
          await this.ctx.callState.set(call.callId, STATE.record, call.recordingUrl);
        }
        continue;
      }
      const e = error ?? { error_description: 'no answer for the finish' };
      const classified = this.client.subError(e, 'telephony.externalCall.finish');
      if (classified.code === 'rejected') {
        // Not found after reconcile looked: Bitrix24 dropped the open call; it cannot be logged.
        const why = isCallNotFound(e) ? 'Bitrix24 no longer has this call open: ' : '';
        outcomes.set(call.callId, { callId: call.callId, ok: false, error: why + describeB24(e) });
      } else retry ??= classified;
    }
    return retry;
  }

  private apiClient(): Promise<AxiosInstance> {
    this.api ??= this.ctx.grantExtras().then((extra) => {
      const grant = extra as Partial<Bitrix24Grant>;
      const endpoint =
        grant.clientEndpoint ?? `${this.ctx.config.portalUrl.replace(/\/+$/, '')}/rest/`;
      return this.ctx.http({ baseURL: endpoint, timeoutMs: this.ctx.config.timeoutMs });
    });
    this.api.catch(() => {
      this.api = undefined;
    });
    return this.api;
  }
}

/** A file name Bitrix24 accepts: the call id's safe characters. */
function safeName(callId: string): string {
  return callId.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, 100) || 'call';
}
