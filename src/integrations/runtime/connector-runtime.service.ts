import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { Clock } from '../../common/clock';
import { RedisService } from '../../common/redis.service';
import { hostPortOf, OutboundPolicy, urlDestinations } from '../../common/outbound-policy';
import { AppConfig } from '../../config/config';
import { APP_CONFIG } from '../../config/config.module';
import { CallsRepository } from '../../calls/calls.repository';
import {
  AnyConnectorDefinition,
  buildHttpClient,
  CallStateStore,
  Capability,
  ConnectorContext,
  ConnectorError,
  ConnectorLogger,
  HttpClientOptions,
  HttpHooks,
  IntegrationStore,
  OAuthSession,
  requestAuthFor,
  TokenSet,
  tokenSender,
} from '../../connector-sdk';
import { Metrics } from '../../observability/metrics.service';
import type { Integration } from '../integration.entity';
import { IntegrationsRepository } from '../integrations.repository';
import { ConnectorCallStateRepository } from './connector-call-state.repository';
import { ConnectorRegistry } from './connector-registry';
import { CredentialBox } from './credential-box';
import { LiveConnector } from './live-connector';
import { bucketFor, RateLimiter } from './rate-limiter.service';
import { RequestPriority, withReserve } from './request-priority';
import { SendingScope } from './sending-scope';
import { TokenVaults } from './token-vault';

/** How long a request may wait in-process for a rate-limit slot before the job is delayed instead. */
const MAX_INLINE_WAIT_MS = 3000;

/**
 * Builds connector instances: decrypted credentials, HTTP clients with the integration's
 * auth and shared rate limits applied, a logger that carries the integration, the per-call
 * state store, and for OAuth connectors the session that refreshes tokens.
 */
@Injectable()
export class ConnectorRuntime implements OnModuleDestroy {
  private readonly logger = new Logger('Connector');
  private readonly cache = new Map<string, { stamp: number; live: LiveConnector }>();
  // No cap on sockets: a request must go on the wire as soon as it has its rate-limit slot. A
  // capped agent queues requests behind a stalled CRM and later releases them in one burst,
  // over the CRM's limit. The limiter bounds how many can be open (rate × timeout).
  // The agents apply the outbound policy to every connection: CRM addresses come from tenants.
  private readonly agents: ReturnType<OutboundPolicy['agents']>;

  constructor(
    private readonly registry: ConnectorRegistry,
    private readonly limiter: RateLimiter,
    private readonly metrics: Metrics,
    private readonly box: CredentialBox,
    private readonly vaults: TokenVaults,
    private readonly integrations: IntegrationsRepository,
    private readonly callState: ConnectorCallStateRepository,
    private readonly calls: CallsRepository,
    private readonly clock: Clock,
    private readonly redis: RedisService,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    outbound: OutboundPolicy,
  ) {
    this.agents = outbound.agents({ keepAlive: true, maxFreeSockets: 64 });
  }

  onModuleDestroy(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  /** A connector for the integration, reused while the integration row is unchanged. */
  forIntegration(integration: Integration): LiveConnector {
    const stamp = new Date(integration.updatedAt).getTime();
    const hit = this.cache.get(integration.id);
    if (hit && hit.stamp === stamp) return hit.live;
    const live = this.build(integration, this.box.openCredentials(integration));
    this.cache.set(integration.id, { stamp, live });
    return live;
  }

  /** A connector with the given credentials (a throwaway one checks credentials before they are stored). */
  build(integration: Integration, credentials: Record<string, unknown>): LiveConnector {
    const definition = this.registry.get(integration.connector);
    if (!definition) throw new Error(`connector ${integration.connector} is not installed`);
    const session = this.session(integration, definition, credentials);
    const ctx = this.context(integration, definition, credentials, session);
    return new LiveConnector(definition, integration, definition.create(ctx), session);
  }

  supports(integration: Integration, capability: Capability): boolean {
    return this.registry.has(integration.connector, capability);
  }

  /** Whether the integration signs in with OAuth and its credentials carry no static token. */
  usesOAuth(integration: Integration, credentials: Record<string, unknown>): boolean {
    const auth = this.registry.get(integration.connector)?.auth;
    return auth?.type === 'oauth2' && !auth.staticToken?.(credentials);
  }

  /** Where an admin grants access, for OAuth connectors that have such a page. */
  authorizeUrl(integration: Integration, state: string): string | null {
    const definition = this.registry.get(integration.connector);
    const auth = definition?.auth;
    if (!definition || auth?.type !== 'oauth2' || !auth.authorizeUrl) return null;
    return auth.authorizeUrl({
      config: integration.config,
      credentials: this.box.openCredentials(integration),
      state,
      redirectUri: this.redirectUri(definition.id),
    });
  }

  /** Exchanges an OAuth authorization code for the integration's first tokens. */
  async exchangeCode(
    integration: Integration,
    code: string,
    params: Record<string, string>,
  ): Promise<TokenSet> {
    const live = this.forIntegration(integration);
    if (!live.session) throw new Error(`connector ${integration.connector} does not use OAuth`);
    return live.session.exchange(code, params);
  }

  /** Stores a grant the CRM handed over itself (checked by the connector), replacing any. */
  async storeGrant(integration: Integration, tokens: TokenSet): Promise<void> {
    await this.vaults.for(integration.id).update(async () => ({ ...tokens }));
  }

  redirectUri(connectorId: string): string {
    return `${this.config.publicUrl}/v1/crm/${connectorId}/oauth`;
  }

  forget(integrationId: string): void {
    this.cache.delete(integrationId);
    this.vaults.forget(integrationId);
  }

  private session(
    integration: Integration,
    definition: AnyConnectorDefinition,
    credentials: Record<string, unknown>,
  ): OAuthSession<object, object> | null {
    if (definition.auth.type !== 'oauth2') return null;
    return new OAuthSession({
      scheme: definition.auth,
      config: integration.config,
      credentials,
      vault: this.vaults.for(integration.id),
      // Token requests count against the integration's limits like every other request.
      send: tokenSender(this.client(integration, definition, { baseURL: '' }, null)),
      redirectUri: this.redirectUri(definition.id),
      now: () => this.clock.now(),
    });
  }

  private context(
    integration: Integration,
    definition: AnyConnectorDefinition,
    credentials: Record<string, unknown>,
    session: OAuthSession<object, object> | null,
  ): ConnectorContext {
    const log =
      (level: 'debug' | 'log' | 'warn' | 'error') =>
      (msg: string, data?: Record<string, unknown>) =>
        this.logger[level](
          {
            integrationId: integration.id,
            tenantId: integration.tenantId,
            connector: definition.id,
            ...data,
          },
          msg,
        );
    const logger: ConnectorLogger = {
      debug: log('debug'),
      info: log('log'),
      warn: log('warn'),
      error: log('error'),
    };
    const requestAuth = requestAuthFor(definition.auth, () => credentials, session);
    const callbackBase = `${this.config.publicUrl}/v1/crm/${definition.id}/${integration.id}`;
    return {
      integrationId: integration.id,
      tenantId: integration.tenantId,
      config: integration.config,
      credentials,
      http: (options) => this.client(integration, definition, options, requestAuth),
      logger,
      clock: { now: () => this.clock.now() },
      saveCredentials: async (next) => {
        const sealed = this.box.sealCredentials(integration.id, next);
        await this.integrations.saveCredentials(integration.id, sealed);
        integration.credentialsEnc = sealed;
        Object.assign(credentials, next);
        this.cache.delete(integration.id);
      },
      grantExtras: async () => (await this.vaults.for(integration.id).read())?.extra ?? {},
      callState: this.stateStore(integration),
      store: this.integrationStore(integration),
      settings: { ...integration.settings },
      callbackUrl: (action) => `${callbackBase}/${action}`,
      publicUrl: this.config.publicUrl,
    };
  }

  private client(
    integration: Integration,
    def: AnyConnectorDefinition,
    options: HttpClientOptions,
    requestAuth: ReturnType<typeof requestAuthFor>,
  ) {
    const integrationId = integration.id;
    // The limits' key: the integration, or what the connector says they count per (its account).
    const scope = def.rateLimitScope
      ? `${def.id}:${def.rateLimitScope(integration.config)}`
      : integrationId;
    const buckets = def.rateLimitsFor?.(integration.config) ?? def.rateLimits;
    const hooks: HttpHooks = {
      beforeRequest: async (path, method) => {
        const bucket = bucketFor(buckets, path);
        if (bucket) {
          const wait = await this.limiter.acquire(
            scope,
            withReserve(bucket, RequestPriority.urgent()),
            MAX_INLINE_WAIT_MS,
          );
          if (wait > 0) {
            throw new ConnectorError(
              'rate_limited',
              `hub-side limit of ${bucket.requestsPerSecond} req/s for ${bucket.name}`,
              { retryAfterMs: wait, notSent: true },
            );
          }
        }
        // Reads change nothing: only a request that may create something puts the action in doubt.
        if (method !== 'GET' && method !== 'HEAD') await SendingScope.beforeSend();
      },
      afterResponse: (path, status, retryAfterMs) => {
        this.metrics.crmRequests.inc({
          connector: def.id,
          outcome: status ? `${String(status)[0]}xx` : 'error',
        });
        if (status === 429 || status === 503) {
          const bucket = bucketFor(buckets, path);
          const ms = retryAfterMs && retryAfterMs > 0 ? retryAfterMs : 1000;
          if (bucket) void this.limiter.pause(scope, bucket, ms).catch(() => undefined);
        }
      },
    };
    return buildHttpClient({
      ...options,
      agents: this.agents,
      requestAuth,
      hooks,
      addressField: addressFieldOf(integration.config, options.baseURL),
    });
  }

  private stateStore(integration: Integration): CallStateStore {
    const pkOf = async (callId: string): Promise<string> => {
      const call = await this.calls.find(integration.tenantId, callId);
      if (!call) throw new Error(`call ${callId} not found`);
      return String(call.id);
    };
    return {
      get: async <T>(callId: string, key: string): Promise<T | undefined> =>
        this.callState.get<T>(await pkOf(callId), integration.id, key),
      set: async (callId: string, key: string, value: unknown): Promise<void> =>
        this.callState.set(await pkOf(callId), integration.id, key, value),
      setOnce: async <T>(callId: string, key: string, value: T): Promise<T> =>
        this.callState.setOnce(await pkOf(callId), integration.id, key, value),
    };
  }

  private integrationStore(integration: Integration): IntegrationStore {
    const keyOf = (key: string) => this.redis.key('connector', integration.id, key);
    return {
      put: async (key, value, ttlS) => {
        await this.redis.client.set(keyOf(key), JSON.stringify(value), 'EX', Math.max(1, ttlS));
      },
      take: async <T>(key: string): Promise<T | undefined> => {
        const raw = await this.redis.client.getdel(keyOf(key));
        return raw === null ? undefined : (JSON.parse(raw) as T);
      },
    };
  }
}

/**
 * The config field a client's base URL comes from (same host and port), so a refused
 * address is reported as "config.url: address not allowed"; undefined when none matches.
 */
export function addressFieldOf(
  config: Record<string, unknown>,
  baseURL: string,
): string | undefined {
  const base = hostPortOf(baseURL);
  if (!base) return undefined;
  return urlDestinations('config', config, 4).find(
    (d) => d.host === base.host && d.port === base.port,
  )?.field;
}
