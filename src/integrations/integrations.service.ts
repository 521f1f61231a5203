import {
  BadRequestException,
  Injectable,
  Logger,
  NotFoundException,
  ServiceUnavailableException,
  UnprocessableEntityException,
} from '@nestjs/common';
import { instanceToPlain } from 'class-transformer';
import { randomUUID } from 'node:crypto';
import { Clock } from '../common/clock';
import { OutboundPolicy } from '../common/outbound-policy';
import { SwrCache } from '../common/swr-cache';
import { validateDto } from '../common/validation';
import {
  ADDRESS_NOT_ALLOWED,
  Capability,
  CrmUser,
  isConnectorError,
  TokenSet,
} from '../connector-sdk';
import {
  DEFAULT_SETTINGS,
  Integration,
  IntegrationSettings,
  IntegrationStatus,
  needsAuth,
} from './integration.entity';
import {
  CreateIntegrationDto,
  IntegrationTestResult,
  IntegrationView,
  UpdateIntegrationDto,
} from './integrations.dto';
import { IntegrationsRepository } from './integrations.repository';
import { ConnectorRegistry } from './runtime/connector-registry';
import { ConnectorRuntime } from './runtime/connector-runtime.service';
import { CredentialBox } from './runtime/credential-box';
import { OAuthState } from './runtime/oauth-state';
import { CallSyncRepository } from './sync/call-sync.repository';
import { SyncQueue } from './sync/sync-queue';

function plain(obj: object): Record<string, unknown> {
  return instanceToPlain(obj, { exposeUnsetFields: false }) as Record<string, unknown>;
}

@Injectable()
export class IntegrationsService {
  private readonly logger = new Logger('IntegrationsService');
  private readonly enabledCache: SwrCache<string, Integration[]>;

  constructor(
    private readonly repo: IntegrationsRepository,
    private readonly registry: ConnectorRegistry,
    private readonly runtime: ConnectorRuntime,
    private readonly box: CredentialBox,
    private readonly oauthState: OAuthState,
    private readonly ledger: CallSyncRepository,
    private readonly queue: SyncQueue,
    private readonly clock: Clock,
    private readonly outbound: OutboundPolicy,
  ) {
    this.enabledCache = new SwrCache((tenantId) => this.repo.list(tenantId, true), {
      freshMs: 2000,
      staleMs: 8000,
      now: () => clock.nowMs(),
    });
  }

  async create(tenantId: string, dto: CreateIntegrationDto): Promise<IntegrationView> {
    const definition = this.registry.get(dto.connector);
    if (!definition) {
      throw new BadRequestException(
        `connector must be one of: ${this.registry.ids().join(', ') || '(none installed)'}`,
      );
    }
    const config = plain(validateDto(definition.configSchema, dto.config, 'config'));
    const credentials = plain(
      validateDto(definition.credentialsSchema, dto.credentials, 'credentials'),
    );
    // Before anything connects: a CRM address must not point into the hub's network.
    await this.outbound.assertConfig('config', config);
    const integration = this.repo.create({
      id: randomUUID(),
      tenantId,
      connector: definition.id,
      enabled: dto.enabled ?? true,
      config,
      settings: {
        ...DEFAULT_SETTINGS,
        ...(dto.settings ? plain(dto.settings) : {}),
      } as IntegrationSettings,
      status: 'connected',
      statusMessage: null,
      tokensEnc: null,
      tokensVersion: 0,
      updatedAt: this.clock.now(),
    });
    // An OAuth connector has nothing to check until an admin grants access.
    if (this.runtime.usesOAuth(integration, credentials)) integration.status = 'needs_auth';
    else await this.verify(integration, credentials);
    integration.credentialsEnc = this.box.sealCredentials(integration.id, credentials);
    await this.repo.save(integration);
    this.enabledCache.delete(tenantId);
    await this.scheduleInstall(integration);
    return this.view(await this.mustGet(integration.id));
  }

  /** Enabled integrations of a tenant, cached briefly: routing and planning read them per call. */
  async enabled(tenantId: string): Promise<Integration[]> {
    return this.enabledCache.get(tenantId);
  }

  byId(id: string): Promise<Integration | null> {
    return this.repo.byId(id);
  }

  supports(integration: Integration, capability: Capability): boolean {
    return this.runtime.supports(integration, capability);
  }

  /** How long a log of this integration waits for others to batch with (0: none). */
  logBatchWaitMs(integration: Integration): number {
    return this.registry.get(integration.connector)?.limits?.logBatchWaitMs ?? 0;
  }

  async list(tenantId: string): Promise<IntegrationView[]> {
    return (await this.repo.list(tenantId)).map((r) => this.view(r));
  }

  async get(tenantId: string, id: string): Promise<Integration> {
    const row = await this.repo.ofTenant(tenantId, id);
    if (!row) throw new NotFoundException(`integration ${id} not found`);
    return row;
  }

  async update(tenantId: string, id: string, dto: UpdateIntegrationDto): Promise<IntegrationView> {
    const integration = await this.get(tenantId, id);
    const definition = this.registry.get(integration.connector);
    if (!definition)
      throw new UnprocessableEntityException(`connector ${integration.connector} is not installed`);
    const before = integration.status;
    if (dto.config) {
      integration.config = plain(
        validateDto(definition.configSchema, { ...integration.config, ...dto.config }, 'config'),
      );
      await this.outbound.assertConfig('config', integration.config);
    }
    let credentials = this.box.openCredentials(integration);
    if (dto.credentials) {
      credentials = plain(
        validateDto(
          definition.credentialsSchema,
          { ...credentials, ...dto.credentials },
          'credentials',
        ),
      );
    }
    const changed = Boolean(dto.config || dto.credentials);
    if (changed) {
      const oauth = this.runtime.usesOAuth(integration, credentials);
      // A new grant comes through the OAuth redirect; other credentials are checked now.
      if (!oauth || integration.status === 'connected') {
        await this.verify(integration, credentials);
        integration.status = 'connected';
        integration.statusMessage = null;
      }
      integration.credentialsEnc = this.box.sealCredentials(integration.id, credentials);
    }
    if (dto.settings)
      integration.settings = {
        ...integration.settings,
        ...plain(dto.settings),
      } as IntegrationSettings;
    if (dto.enabled !== undefined) integration.enabled = dto.enabled;
    await this.repo.save(integration);
    this.runtime.forget(integration.id);
    this.enabledCache.delete(tenantId);
    if (changed) await this.scheduleInstall(integration);
    if (needsAuth({ status: before }) && integration.status === 'connected')
      await this.resume(integration.id);
    return this.view(await this.mustGet(id));
  }

  async remove(tenantId: string, id: string): Promise<void> {
    const integration = await this.get(tenantId, id);
    await this.repo.delete(integration.id);
    this.runtime.forget(id);
    this.enabledCache.delete(tenantId);
  }

  /** Re-registers the hub in every CRM that keeps a copy of the agent map. */
  async agentsChanged(tenantId: string): Promise<void> {
    for (const row of await this.repo.list(tenantId, true)) await this.scheduleInstall(row);
  }

  async setStatus(id: string, status: IntegrationStatus, message: string | null): Promise<void> {
    await this.repo.setStatus(id, status, message);
    const integration = await this.repo.byId(id);
    if (integration) this.enabledCache.delete(integration.tenantId);
  }

  /**
   * The OAuth redirect: exchanges the code once, stores the tokens, and connects the
   * integration; actions that waited for it run now.
   */
  async completeOAuth(
    connector: string,
    state: string,
    code: string,
    params: Record<string, string>,
  ): Promise<Integration> {
    const id = this.oauthState.verify(state);
    const integration = id ? await this.repo.byId(id) : null;
    if (!integration || integration.connector !== connector) {
      throw new BadRequestException('state is not an authorization the hub started, or it expired');
    }
    try {
      await this.runtime.exchangeCode(integration, code, params);
    } catch (err) {
      const message = isConnectorError(err) ? err.message : 'the CRM did not answer';
      // A replayed or stale redirect must not disconnect a working integration.
      if (integration.status !== 'connected')
        await this.setStatus(integration.id, integration.status, message);
      throw new UnprocessableEntityException(`code could not be exchanged: ${message}`);
    }
    await this.connected(integration);
    return integration;
  }

  /**
   * A grant the CRM handed over itself (Bitrix24's install event), already checked by the
   * connector: stored, the integration connected and installed, waiting actions resumed.
   */
  async acceptGrant(integration: Integration, tokens: TokenSet): Promise<void> {
    await this.runtime.storeGrant(integration, tokens);
    await this.connected(integration);
  }

  /**
   * "Test connection": the stored credentials against the CRM's own check, now. An
   * integration waiting for a sign-in is not asked (nothing to check until a grant exists);
   * one in `error` that passes is connected again and installed again, so an install that
   * still fails shows once more. A failing test changes no status: the job runner decides.
   */
  async test(tenantId: string, id: string): Promise<IntegrationTestResult> {
    const integration = await this.get(tenantId, id);
    if (needsAuth(integration)) {
      const oauth = this.runtime.usesOAuth(integration, this.box.openCredentials(integration));
      return {
        ok: false,
        status: integration.status,
        message: oauth
          ? "not connected yet: connect it with the CRM's sign-in (authorizeUrl)"
          : 'not connected: the CRM refused its credentials; give new ones (PATCH credentials)',
      };
    }
    try {
      await this.runtime.forIntegration(integration).verifyCredentials();
    } catch (err) {
      return { ok: false, status: integration.status, message: this.testFailure(integration, err) };
    }
    if (integration.status === 'error') await this.connected(integration);
    return { ok: true, status: integration.status };
  }

  /** Why a credential check failed, in words for the admin: the field, never the credential. */
  private testFailure(integration: Integration, err: unknown): string {
    if (!isConnectorError(err)) {
      this.logger.warn(
        {
          integrationId: integration.id,
          connector: integration.connector,
          err: (err as Error).message,
        },
        'connection test failed',
      );
      return 'the CRM could not be checked: it did not answer as expected';
    }
    if (err.details.reason === ADDRESS_NOT_ALLOWED) return err.message;
    switch (err.code) {
      case 'auth_invalid': {
        const field = err.details.field;
        const name = !field
          ? 'the credentials were'
          : `${Object.hasOwn(integration.config, field) ? 'config' : 'credentials'}.${field} was`;
        return `${name} refused by the CRM: ${err.message}`;
      }
      case 'temporary':
        return `the CRM could not be reached: ${err.message}`;
      case 'rate_limited': {
        const seconds = Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000));
        return err.details.notSent
          ? `the integration is at the CRM's rate limit; try again in ${seconds} s`
          : `the CRM asks the hub to slow down; try again in ${seconds} s`;
      }
      default:
        return `the CRM refused the check: ${err.message}`;
    }
  }

  /**
   * Connected again (a new grant was stored, or a test passed after an error): installed,
   * and what waited for it runs now.
   */
  private async connected(integration: Integration): Promise<void> {
    const before = integration.status;
    await this.setStatus(integration.id, 'connected', null);
    integration.status = 'connected';
    this.runtime.forget(integration.id);
    await this.scheduleInstall(integration);
    if (needsAuth({ status: before })) await this.resume(integration.id);
  }

  /** Actions that waited for the integration to be connected are queued again, their age reset. */
  private async resume(integrationId: string): Promise<void> {
    const rows = await this.ledger.resume(integrationId, this.clock.now());
    await Promise.all(
      rows.map((r) =>
        this.queue
          .action(r.id, r.action)
          .catch((err: Error) =>
            this.logger.warn({ err: err.message }, 'queue unavailable; the sweeper resumes it'),
          ),
      ),
    );
  }

  /** The integration's install is done, or given up visibly (its status says why). */
  installSettled(id: string, startedAt: Date): Promise<void> {
    return this.repo.installSettled(id, startedAt);
  }

  /** Since when the integration's install has been wanted, or null. */
  installDueAt(id: string): Promise<Date | null> {
    return this.repo.installDueAt(id);
  }

  /** Integrations whose install has been due since before `before`: their job may be lost. */
  installsDue(before: Date, limit = 100): Promise<string[]> {
    return this.repo.installsDue(before, limit);
  }

  private async mustGet(id: string): Promise<Integration> {
    const row = await this.repo.byId(id);
    if (!row) throw new NotFoundException(`integration ${id} not found`);
    return row;
  }

  private async scheduleInstall(integration: Integration): Promise<void> {
    if (!integration.enabled || !this.registry.has(integration.connector, 'install')) return;
    if (needsAuth(integration)) return;
    await this.repo.markInstallDue(integration.id, this.clock.now());
    await this.queue.install(integration.id);
  }

  /**
   * The CRM's users, for building the agent map: each with the extension the CRM keeps for
   * them, else the one the agent map gives them. 404 for a connector that cannot list them.
   */
  async users(integration: Integration, agentMap: Map<string, string>): Promise<CrmUser[]> {
    if (!this.runtime.supports(integration, 'users')) {
      throw new NotFoundException(`the ${integration.connector} connector does not list users`);
    }
    const users = await this.runtime
      .forIntegration(integration)
      .use('users')
      .listUsers()
      .catch((err: unknown) => {
        const message = isConnectorError(err) ? err.message : 'the CRM did not answer';
        throw new ServiceUnavailableException(`the CRM's users could not be read: ${message}`);
      });
    const byUser = new Map([...agentMap].map(([extension, user]) => [user, extension]));
    return users.map((u) => {
      const extension = u.extension ?? byUser.get(u.crmUserId);
      return extension ? { ...u, extension } : u;
    });
  }

  /** Live credential check: a wrong key is a 422 that names the credential. */
  private async verify(
    integration: Integration,
    credentials: Record<string, unknown>,
  ): Promise<void> {
    const live = this.runtime.build(integration, { ...credentials });
    try {
      await live.verifyCredentials();
    } catch (err) {
      // The name resolved to a refused address only now (or the CRM redirected there).
      if (isConnectorError(err) && err.details.reason === ADDRESS_NOT_ALLOWED) {
        throw new UnprocessableEntityException(err.message);
      }
      if (isConnectorError(err) && err.code === 'auth_invalid') {
        const field = err.details.field ?? Object.keys(credentials)[0] ?? 'credentials';
        throw new UnprocessableEntityException(
          `credentials.${field} was refused by the CRM: ${err.message}`,
        );
      }
      const message = (err as Error).message;
      this.logger.warn(
        { connector: integration.connector, err: message },
        'credential check failed',
      );
      throw new UnprocessableEntityException(
        `config could not be checked against the CRM: ${message}`,
      );
    }
  }

  view(i: Integration): IntegrationView {
    const view: IntegrationView = {
      id: i.id,
      connector: i.connector,
      enabled: i.enabled,
      config: i.config,
      settings: i.settings as unknown as Record<string, unknown>,
      status: i.status,
      statusMessage: i.statusMessage,
      createdAt: new Date(i.createdAt).toISOString(),
    };
    if (needsAuth(i)) {
      const url = this.runtime.authorizeUrl(i, this.oauthState.sign(i.id));
      if (url) view.authorizeUrl = url;
    }
    return view;
  }
}
