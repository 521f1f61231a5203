import type { AxiosInstance } from 'axios';
import {
  BaseConnector,
  CallActionInput,
  CallInfo,
  ConnectorContext,
  ConnectorError,
  ContactMatch,
  CrmUser,
  LeadInput,
  LeadOutcome,
  LogInput,
  LogOutcome,
  LookupInput,
  PopInput,
  ResponsibleUser,
  WidgetTokenInput,
  WidgetUser,
} from '../../src/connector-sdk';
import { AmocrmClient, AmoContact } from './amocrm.client';
import {
  hasPhone,
  lastTen,
  leadMarker,
  MapOptions,
  toAmoCall,
  toComplexLead,
  toContact,
  toUnsorted,
  userId,
} from './amocrm.mapper';
import { AmocrmConfig, AmocrmCredentials } from './amocrm.schema';
import { verifyDisposableToken } from './amocrm.widget-token';

/** amoCRM lists 250 users a page; an account with more than 10,000 is not one we expect. */
const USERS_PER_PAGE = 250;
const MAX_USER_PAGES = 40;

/** amoCRM takes up to 50 calls per request. */
export const CALLS_PER_REQUEST = 50;

export type AmocrmContext = ConnectorContext<AmocrmConfig, AmocrmCredentials>;

/**
 * Sends items in one request until amoCRM takes them all. amoCRM refuses a whole request for
 * one bad item and names them: those go to `refused` and the rest are sent again. Each
 * refusal takes at least one item out, so this ends. Returns each taken item with its id.
 */
async function untilTaken<T>(
  items: T[],
  send: (items: T[]) => Promise<{ taken: string[]; refused: number[] }>,
  refused: (item: T) => void,
): Promise<[T, string | undefined][]> {
  let left = items;
  while (left.length) {
    const reply = await send(left);
    if (reply.refused.length === 0) return left.map((item, i) => [item, reply.taken[i]]);
    const out = new Set(reply.refused);
    left.filter((_, i) => out.has(i)).forEach(refused);
    left = left.filter((_, i) => !out.has(i));
  }
  return [];
}

/** The definition (index.ts) checks at compile time that this class has its capabilities' methods. */
export class AmocrmConnector implements BaseConnector {
  private readonly client: AmocrmClient;
  private host?: Promise<string>;
  private api?: Promise<AxiosInstance>;

  constructor(private readonly ctx: AmocrmContext) {
    const authField = ctx.credentials.longLivedToken ? 'longLivedToken' : 'accessToken';
    this.client = new AmocrmClient(() => this.apiClient(), authField);
  }

  async verifyCredentials(): Promise<void> {
    await this.client.account();
  }

  async findContact({ phone }: LookupInput): Promise<ContactMatch | null> {
    const found = await this.lookup(phone);
    return found ? toContact(found, { accountHost: await this.accountHost() }) : null;
  }

  async findResponsible({ phone }: LookupInput): Promise<ResponsibleUser | null> {
    const found = await this.lookup(phone);
    return found?.responsible_user_id ? { crmUserId: String(found.responsible_user_id) } : null;
  }

  /** amoCRM's own incoming-call notification to the ringing users; it finds the card itself. */
  async showCall({ call, target }: PopInput): Promise<void> {
    const users = target.crmUserIds.map(userId).filter((id): id is number => id !== undefined);
    if (call.direction !== 'inbound' || !call.customerPhone || users.length === 0) return;
    await this.client.phoneCallEvent(call.customerPhone, users);
  }

  /** amoCRM closes its notifications itself. */
  async hideCall(): Promise<void> {}

  /**
   * Logs the calls in one request. A number amoCRM finds no entity for is refused (and the
   * request with it): the others are sent again without it, and an inbound one becomes an
   * incoming lead in "Unsorted" with the same `uniq`, instead of a lost log.
   */
  async logCalls({ items }: LogInput): Promise<LogOutcome[]> {
    const options = await this.mapOptions();
    const outcomes = new Map<string, LogOutcome>();
    const pending: CallInfo[] = [];
    for (const { call } of items) {
      if (call.direction === 'internal') {
        outcomes.set(call.callId, { callId: call.callId, ok: true });
      } else if (!call.customerPhone) {
        outcomes.set(call.callId, {
          callId: call.callId,
          ok: false,
          error: 'amoCRM logs calls by the client number; this call has none',
        });
      } else pending.push(call);
    }
    const unmatched: CallInfo[] = [];
    for (let i = 0; i < pending.length; i += CALLS_PER_REQUEST) {
      const logged = await untilTaken(
        pending.slice(i, i + CALLS_PER_REQUEST),
        async (chunk) => {
          const { added, noEntity } = await this.client.addCalls(
            chunk.map((call, k) => toAmoCall(call, options, String(k))),
          );
          return { taken: added.map((c) => String(c.id)), refused: noEntity };
        },
        (call) => unmatched.push(call),
      );
      for (const [call, id] of logged) {
        outcomes.set(call.callId, { callId: call.callId, ok: true, externalId: id });
      }
    }
    await this.fileUnmatched(unmatched, options, outcomes);
    return items.map(({ call }) => outcomes.get(call.callId) as LogOutcome);
  }

  async createLead({ call, contact }: LeadInput): Promise<LeadOutcome> {
    if (!call.customerPhone) {
      throw ConnectorError.rejected(
        `amoCRM lead needs the caller's number; call ${call.callId} has none`,
      );
    }
    const options = await this.mapOptions();
    if (this.ctx.config.createLeadAs === 'lead') {
      const [created] = await this.client.addComplexLeads([toComplexLead(call, contact, options)]);
      if (!created) throw ConnectorError.temporary('amoCRM leads/complex answered without a lead');
      return { externalId: String(created.id) };
    }
    const { added, duplicates } = await this.client.addUnsortedSip([
      toUnsorted(call, options, '0'),
    ]);
    if (duplicates.length) {
      // One incoming lead per call: the call's log (or an earlier attempt) made it already.
      const existing = await this.findUnsorted(call.callId);
      if (existing) return existing;
      throw ConnectorError.temporary(
        'amoCRM has an incoming lead of this call but did not list it',
      );
    }
    if (!added[0]) throw ConnectorError.temporary('amoCRM answered without the incoming lead');
    return { externalId: added[0].uid };
  }

  /**
   * The lead an earlier attempt made: an incoming lead carries the call id as its `uniq`; a
   * lead has no external id, so its name carries a marker of the call to search by.
   */
  async findLead({ call }: CallActionInput): Promise<LeadOutcome | null> {
    if (this.ctx.config.createLeadAs !== 'lead') return this.findUnsorted(call.callId);
    const marker = leadMarker(call.callId);
    const leads = await this.client.findLeads(marker);
    const lead = leads.find((l) => typeof l.name === 'string' && l.name.includes(marker));
    return lead ? { externalId: String(lead.id) } : null;
  }

  /** Every user of the account, page by page (250 a page). */
  async listUsers(): Promise<CrmUser[]> {
    const out: CrmUser[] = [];
    for (let page = 1; page <= MAX_USER_PAGES; page++) {
      const users = await this.client.users(page);
      for (const u of users) {
        out.push({
          crmUserId: String(u.id),
          name: u.name ?? String(u.id),
          ...(u.email ? { email: u.email } : {}),
        });
      }
      if (users.length < USERS_PER_PAGE) break;
    }
    return out;
  }

  /** The amoCRM user a widget's disposable token speaks for. */
  async verifyWidgetToken({ token, audience }: WidgetTokenInput): Promise<WidgetUser> {
    const secret = this.ctx.credentials.clientSecret;
    if (!secret) {
      throw ConnectorError.authInvalid(
        'widget tokens are checked with the integration secret key (credentials.clientSecret)',
        'clientSecret',
      );
    }
    const claims = verifyDisposableToken(token, {
      secret,
      audience,
      clientId: this.ctx.config.clientId,
      accountHost: await this.accountHost(),
      nowS: Math.floor(this.ctx.clock.now().getTime() / 1000),
    });
    return { crmUserId: claims.userId };
  }

  private async findUnsorted(callId: string): Promise<LeadOutcome | null> {
    const recent = await this.client.recentUnsortedSip();
    const found = recent.find((u) => u.metadata?.uniq === callId);
    return found ? { externalId: found.uid } : null;
  }

  /** Inbound calls amoCRM could not place become incoming leads; outbound ones fail visibly. */
  private async fileUnmatched(
    calls: CallInfo[],
    options: MapOptions,
    outcomes: Map<string, LogOutcome>,
  ): Promise<void> {
    const inbound = calls.filter((c) => c.direction === 'inbound');
    for (const call of calls.filter((c) => c.direction !== 'inbound')) {
      outcomes.set(call.callId, {
        callId: call.callId,
        ok: false,
        error: `amoCRM has no contact or company with the number ${call.customerPhone}`,
      });
    }
    // A duplicate is this call's incoming lead already (an earlier attempt, or its lead): done.
    const filed = await untilTaken(
      inbound,
      async (batch) => {
        const { added, duplicates } = await this.client.addUnsortedSip(
          batch.map((call, i) => toUnsorted(call, options, String(i))),
        );
        return { taken: added.map((u) => u.uid), refused: duplicates };
      },
      (call) => outcomes.set(call.callId, { callId: call.callId, ok: true }),
    );
    for (const [call, uid] of filed) {
      outcomes.set(call.callId, { callId: call.callId, ok: true, externalId: uid });
    }
  }

  /**
   * The contact of a number: one query by its last ten digits (how amoCRM stores and matches
   * numbers whatever their spelling), kept only when a phone of the contact really is it.
   */
  private async lookup(phone: string): Promise<AmoContact | null> {
    const query = lastTen(phone);
    if (query.length < 7) return null;
    const contacts = await this.client.findContacts(query);
    const matching = contacts.filter((c) => hasPhone(c, phone));
    matching.sort((a, b) => (a.created_at ?? 0) - (b.created_at ?? 0) || a.id - b.id);
    return matching[0] ?? null;
  }

  private async mapOptions(): Promise<MapOptions> {
    const { config } = this.ctx;
    return {
      accountHost: await this.accountHost(),
      sourceName: config.sourceName ?? 'Telephony hub',
      pipelineId: config.pipelineId,
      statusId: config.statusId,
    };
  }

  /** The account host the OAuth redirect named (its `referer`), else the configured one. */
  private accountHost(): Promise<string> {
    this.host ??= this.ctx
      .grantExtras()
      .then((extra) => extra.baseDomain ?? this.ctx.config.baseDomain)
      .catch(() => this.ctx.config.baseDomain);
    return this.host;
  }

  private apiClient(): Promise<AxiosInstance> {
    this.api ??= this.accountHost().then((host) =>
      this.ctx.http({
        baseURL: this.ctx.config.apiUrl ?? `https://${host}`,
        timeoutMs: this.ctx.config.timeoutMs,
      }),
    );
    return this.api;
  }
}
