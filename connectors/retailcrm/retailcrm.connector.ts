import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  CallActionInput,
  CallbackRequest,
  CallbackResult,
  BaseConnector,
  CallInfo,
  ConnectorContext,
  ConnectorError,
  ContactMatch,
  CrmUser,
  InstallInput,
  LeadInput,
  LeadOutcome,
  LogInput,
  LogOutcome,
  LookupInput,
  PopInput,
  ResponsibleUser,
} from '../../src/connector-sdk';
import { RcCall, RcManagerResponse, RetailcrmClient } from './retailcrm.client';
import {
  leadMarker,
  MapOptions,
  orderExternalId,
  phoneVariants,
  toContact,
  toHangupEvent,
  toIntegrationModule,
  toOrder,
  toPopEvent,
  toResponsible,
  toTask,
  toUploadCall,
} from './retailcrm.mapper';
import { RetailcrmConfig, RetailcrmCredentials } from './retailcrm.schema';

/** RetailCRM takes at most 50 calls per history upload. */
export const UPLOAD_CHUNK = 50;
export const DEFAULT_MODULE_CODE = 'telephony-hub';
/** 100 users a page; more than 5,000 is not an account we expect. */
const MAX_USER_PAGES = 50;

export type RetailcrmContext = ConnectorContext<RetailcrmConfig, RetailcrmCredentials>;

/** Compares secrets in constant time whatever their lengths. */
function sameSecret(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

function param(request: CallbackRequest, name: string): string | undefined {
  const value = request.query[name] ?? request.body[name];
  if (typeof value === 'number') return String(value);
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/** The definition (index.ts) checks at compile time that this class has its capabilities' methods. */
export class RetailcrmConnector implements BaseConnector {
  private readonly client: RetailcrmClient;
  private readonly mapOptions: MapOptions;
  private clientIdPromise?: Promise<string>;
  /** Set once install() generated and saved a clientId, so callbacks accept it right away. */
  private generatedClientId?: string;

  constructor(private readonly ctx: RetailcrmContext) {
    const { config } = ctx;
    this.client = new RetailcrmClient((options) => ctx.http(options), {
      url: config.url,
      site: config.site,
      timeoutMs: config.timeoutMs,
    });
    this.mapOptions = { site: config.site, timezone: config.timezone };
  }

  async verifyCredentials(): Promise<void> {
    const reply = await this.client.credentials();
    const site = this.ctx.config.site;
    if (site && reply.sitesAvailable && !reply.sitesAvailable.includes(site)) {
      throw ConnectorError.authInvalid(`The API key has no access to store "${site}"`, 'apiKey');
    }
  }

  async findContact({ phone }: LookupInput): Promise<ContactMatch | null> {
    const reply = await this.lookup(phone);
    return reply ? toContact(reply) : null;
  }

  async findResponsible({ phone }: LookupInput): Promise<ResponsibleUser | null> {
    const reply = await this.lookup(phone);
    return reply ? toResponsible(reply.manager) : null;
  }

  async showCall({ call, target }: PopInput): Promise<void> {
    this.requirePhone(call, 'pop');
    const reply = await this.client.callEvent(toPopEvent(call, target, this.mapOptions));
    this.warnUnknownUsers(reply.notExistCodes, reply.notExistUsers);
  }

  async hideCall({ call, target }: PopInput): Promise<void> {
    this.requirePhone(call, 'hangup');
    await this.client.callEvent(toHangupEvent(call, target, this.mapOptions));
  }

  async logCalls({ items }: LogInput): Promise<LogOutcome[]> {
    const outcomes = new Map<string, LogOutcome>();
    const records: RcCall[] = [];
    for (const { call } of items) {
      const record = toUploadCall(call, this.mapOptions);
      if ('error' in record)
        outcomes.set(call.callId, { callId: call.callId, ok: false, error: record.error });
      else records.push(record);
    }
    // A failed chunk throws: earlier chunks are deduplicated by externalId when the core retries.
    for (let i = 0; i < records.length; i += UPLOAD_CHUNK) {
      const chunk = records.slice(i, i + UPLOAD_CHUNK);
      const reply = await this.client.callsUpload(chunk);
      const duplicates = new Set(reply.duplicateCalls ?? []);
      for (const record of chunk) {
        if (duplicates.has(record.externalId)) {
          this.ctx.logger.debug('call already in RetailCRM history', { callId: record.externalId });
        }
        // RetailCRM keys history by externalId, which is our callId.
        outcomes.set(record.externalId, {
          callId: record.externalId,
          ok: true,
          externalId: record.externalId,
        });
      }
    }
    return items.map(({ call }) => outcomes.get(call.callId) as LogOutcome);
  }

  async createLead({ call, contact, idempotencyKey }: LeadInput): Promise<LeadOutcome> {
    this.requirePhone(call, 'lead');
    const { config } = this.ctx;
    const reply =
      config.createLeadAs === 'order'
        ? await this.client.createOrder(
            toOrder(call, contact, {
              ...this.mapOptions,
              orderMethod: config.orderMethod,
              externalId: orderExternalId(idempotencyKey),
            }),
          )
        : await this.client.createTask(
            toTask(
              call,
              contact,
              this.ctx.clock.now(),
              this.mapOptions,
              leadMarker(idempotencyKey),
            ),
          );
    return { externalId: String(reply.id) };
  }

  /**
   * The lead an earlier attempt made: orders carry the key as their externalId; tasks have
   * no external id, so their text carries a short marker of the key to search by.
   */
  async findLead({ idempotencyKey }: CallActionInput): Promise<LeadOutcome | null> {
    if (this.ctx.config.createLeadAs === 'order') {
      const reply = await this.client.ordersByExternalId(orderExternalId(idempotencyKey));
      const order = reply.orders?.[0];
      return order ? { externalId: String(order.id) } : null;
    }
    const marker = leadMarker(idempotencyKey);
    const reply = await this.client.tasksByText(marker);
    const task = reply.tasks?.find((t) => typeof t.text === 'string' && t.text.includes(marker));
    return task ? { externalId: String(task.id) } : null;
  }

  /** Every active user of the account, page by page. */
  async listUsers(): Promise<CrmUser[]> {
    const out: CrmUser[] = [];
    for (let page = 1; page <= MAX_USER_PAGES; page++) {
      const reply = await this.client.users(page);
      for (const u of reply.users ?? []) {
        if (u.active === false) continue;
        const name = [u.firstName, u.lastName].filter(Boolean).join(' ').trim();
        out.push({
          crmUserId: String(u.id),
          name: name || String(u.id),
          ...(u.email ? { email: u.email } : {}),
          ...(u.phone ? { mobile: u.phone } : {}),
        });
      }
      if ((reply.pagination?.totalPageCount ?? 1) <= page) break;
    }
    return out;
  }

  async install({ agents }: InstallInput): Promise<void> {
    const clientId = await this.ensureClientId();
    const module = toIntegrationModule(this.moduleCode(), clientId, agents, {
      publicUrl: this.ctx.publicUrl,
      makeCallUrl: this.ctx.callbackUrl('make-call'),
      changeUserStatusUrl: this.ctx.callbackUrl('user-status'),
    });
    const skipped = agents.length - module.integrations.telephony.additionalCodes.length;
    if (skipped > 0) {
      this.ctx.logger.warn('agents with non-numeric RetailCRM user ids were not sent', { skipped });
    }
    const reply = await this.client.editIntegrationModule(module);
    this.warnUnknownUsers(undefined, reply.info?.notExistUsersIds);
  }

  async handleCallback(request: CallbackRequest): Promise<CallbackResult> {
    if (request.action !== 'make-call' && request.action !== 'user-status') {
      return {
        status: 404,
        body: { success: false, errorMsg: `Unknown action "${request.action}"` },
      };
    }
    const expected = this.generatedClientId ?? this.ctx.credentials.clientId;
    const given = param(request, 'clientId');
    if (!expected || !given || !sameSecret(given, expected)) {
      return { status: 403, body: { success: false, errorMsg: 'Wrong clientId' } };
    }
    if (request.action === 'user-status') {
      // The hub keeps no agent presence; accept so RetailCRM does not show an error.
      return { status: 200, body: { success: true } };
    }
    const code = param(request, 'code');
    const phone = param(request, 'phone');
    for (const [name, value] of [
      ['code', code],
      ['phone', phone],
    ] as const) {
      if (!value)
        return {
          status: 400,
          body: { success: false, errorMsg: `Parameter '${name}' is missing` },
        };
    }
    return {
      status: 200,
      body: { success: true },
      originate: { extension: code as string, to: phone as string },
    };
  }

  /** The telephony/manager reply for the first spelling of `phone` that RetailCRM knows. */
  private async lookup(phone: string): Promise<RcManagerResponse | null> {
    for (const variant of phoneVariants(phone)) {
      const reply = await this.client.telephonyManager(variant);
      if (reply.customer) return reply;
    }
    return null;
  }

  private moduleCode(): string {
    return this.ctx.config.moduleCode ?? DEFAULT_MODULE_CODE;
  }

  /** The module clientId is generated once, persisted, then reused on every install. */
  private ensureClientId(): Promise<string> {
    const existing = this.generatedClientId ?? this.ctx.credentials.clientId;
    if (existing) return Promise.resolve(existing);
    this.clientIdPromise ??= (async () => {
      const clientId = randomBytes(24).toString('base64url');
      await this.ctx.saveCredentials({ ...this.ctx.credentials, clientId });
      this.generatedClientId = clientId;
      return clientId;
    })().catch((err: unknown) => {
      this.clientIdPromise = undefined;
      throw err;
    });
    return this.clientIdPromise;
  }

  private requirePhone(call: CallInfo, what: string): void {
    if (!call.customerPhone) {
      throw ConnectorError.rejected(
        `RetailCRM ${what} needs the customer's phone; call ${call.callId} has none`,
      );
    }
  }

  private warnUnknownUsers(codes?: string[], userIds?: number[]): void {
    if (codes?.length || userIds?.length) {
      this.ctx.logger.warn('RetailCRM does not know some extensions or users', {
        notExistCodes: codes ?? [],
        notExistUsers: userIds ?? [],
      });
    }
  }
}
