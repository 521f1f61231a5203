import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import axios, { AxiosInstance, InternalAxiosRequestConfig } from 'axios';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';
import { SecretBox } from '../common/secret-box';
import {
  Capability,
  CallStateStore,
  ConnectorContext,
  ConnectorDefinition,
  ConnectorError,
  ConnectorLogger,
  CrmConnector,
  HttpClientOptions,
  RateLimitBucket,
} from '../connector-sdk';
import { Metrics } from '../observability/metrics.service';
import { ConnectorRegistry } from './connector-registry';
import { Integration } from './integration.entity';
import { bucketFor, RateLimiter } from './rate-limiter.service';

// No cap on sockets: a request must go on the wire as soon as it has its rate-limit slot. A
// capped agent queues requests behind a stalled CRM and later releases them in one burst,
// over the CRM's limit. The limiter bounds how many can be open (rate × timeout).
const httpAgent = new HttpAgent({ keepAlive: true, maxFreeSockets: 64 });
const httpsAgent = new HttpsAgent({ keepAlive: true, maxFreeSockets: 64 });

/** How long a request may wait in-process for a rate-limit slot before the job is delayed instead. */
const MAX_INLINE_WAIT_MS = 3000;

export interface LiveConnector {
  definition: ConnectorDefinition;
  connector: CrmConnector;
  integration: Integration;
}

export function credentialsContext(integrationId: string): string {
  return `integration:${integrationId}:credentials`;
}

/** Path of a request relative to the client's base URL, for rate-limit bucket matching. */
function requestPath(cfg: InternalAxiosRequestConfig): string {
  const url = cfg.url ?? '';
  if (/^https?:\/\//i.test(url)) {
    const full = new URL(url);
    const base = cfg.baseURL ? new URL(cfg.baseURL).pathname.replace(/\/+$/, '') : '';
    return full.pathname.startsWith(base) ? full.pathname.slice(base.length) : full.pathname;
  }
  return `/${url.replace(/^\/+/, '')}`;
}

/**
 * Builds connector instances: decrypted credentials, a rate-limited HTTP client,
 * a logger that carries the integration, and the per-call state store.
 */
@Injectable()
export class ConnectorRuntime {
  private readonly logger = new Logger('Connector');
  private readonly box: SecretBox;
  private readonly cache = new Map<string, { stamp: number; live: LiveConnector }>();

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly registry: ConnectorRegistry,
    private readonly limiter: RateLimiter,
    private readonly metrics: Metrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.box = new SecretBox(config.encryptionKey);
  }

  sealCredentials(integrationId: string, credentials: object): string {
    return this.box.sealJson(credentials, credentialsContext(integrationId));
  }

  openCredentials(integration: Integration): Record<string, unknown> {
    return this.box.openJson(integration.credentialsEnc, credentialsContext(integration.id));
  }

  /** A connector for the integration, reused while the integration row is unchanged. */
  forIntegration(integration: Integration): LiveConnector {
    const stamp = new Date(integration.updatedAt).getTime();
    const hit = this.cache.get(integration.id);
    if (hit && hit.stamp === stamp) return hit.live;
    const live = this.build(integration, this.openCredentials(integration));
    this.cache.set(integration.id, { stamp, live });
    return live;
  }

  /** A throwaway connector for checking credentials before they are stored. */
  build(integration: Integration, credentials: Record<string, unknown>): LiveConnector {
    const definition = this.registry.get(integration.connector);
    if (!definition) throw new Error(`connector ${integration.connector} is not installed`);
    const ctx = this.context(integration, definition, credentials);
    return { definition, connector: definition.create(ctx), integration };
  }

  supports(integration: Integration, capability: Capability): boolean {
    return this.registry.has(integration.connector, capability);
  }

  forget(integrationId: string): void {
    this.cache.delete(integrationId);
  }

  private context(
    integration: Integration,
    definition: ConnectorDefinition,
    credentials: Record<string, unknown>,
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
    const callbackBase = `${this.config.publicUrl}/v1/crm/${definition.id}/${integration.id}`;
    return {
      integrationId: integration.id,
      tenantId: integration.tenantId,
      config: integration.config,
      credentials,
      http: (options) => this.httpClient(integration.id, definition, options),
      logger,
      clock: { now: () => new Date() },
      saveCredentials: async (next) => {
        const sealed = this.sealCredentials(integration.id, next);
        await this.db.query('UPDATE integrations SET credentials_enc = ? WHERE id = ?', [
          sealed,
          integration.id,
        ]);
        integration.credentialsEnc = sealed;
        Object.assign(credentials, next);
        this.forget(integration.id);
      },
      callState: this.stateStore(integration),
      callbackUrl: (action) => `${callbackBase}/${action}`,
      publicUrl: this.config.publicUrl,
    };
  }

  private httpClient(
    integrationId: string,
    def: ConnectorDefinition,
    options: HttpClientOptions,
  ): AxiosInstance {
    const client = axios.create({
      baseURL: options.baseURL,
      timeout: Math.min(Math.max(options.timeoutMs ?? 10000, 100), 30000),
      headers: options.headers,
      httpAgent,
      httpsAgent,
      maxRedirects: 0,
      maxContentLength: 10 * 1024 * 1024,
    });
    client.interceptors.request.use(async (cfg) => {
      const bucket: RateLimitBucket | undefined = bucketFor(def.rateLimits, requestPath(cfg));
      if (bucket) {
        const wait = await this.limiter.acquire(integrationId, bucket, MAX_INLINE_WAIT_MS);
        if (wait > 0) {
          throw ConnectorError.rateLimited(
            `hub-side limit of ${bucket.requestsPerSecond} req/s for ${bucket.name}`,
            wait,
          );
        }
      }
      return cfg;
    });
    client.interceptors.response.use(
      (res) => {
        this.metrics.crmRequests.inc({ connector: def.id, outcome: String(res.status)[0] + 'xx' });
        return res;
      },
      (err: unknown) => {
        const status = axios.isAxiosError(err) ? err.response?.status : undefined;
        this.metrics.crmRequests.inc({
          connector: def.id,
          outcome: status ? `${String(status)[0]}xx` : 'error',
        });
        if (axios.isAxiosError(err) && status && (status === 429 || status === 503)) {
          const bucket = err.config
            ? bucketFor(def.rateLimits, requestPath(err.config))
            : undefined;
          const retryAfter = Number(err.response?.headers?.['retry-after']);
          const ms = Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : 1000;
          if (bucket) void this.limiter.pause(integrationId, bucket, ms).catch(() => undefined);
        }
        return Promise.reject(err);
      },
    );
    return client;
  }

  private stateStore(integration: Integration): CallStateStore {
    const pkOf = async (callId: string): Promise<string> => {
      const [row] = (await this.db.query(
        'SELECT id FROM calls WHERE tenant_id = ? AND call_id = ?',
        [integration.tenantId, callId],
      )) as { id: string }[];
      if (!row) throw new Error(`call ${callId} not found`);
      return String(row.id);
    };
    return {
      get: async <T>(callId: string, key: string): Promise<T | undefined> => {
        const [row] = (await this.db.query(
          'SELECT value FROM connector_call_state WHERE call_pk = ? AND integration_id = ? AND state_key = ?',
          [await pkOf(callId), integration.id, key],
        )) as { value: string | { v: T } }[];
        if (!row) return undefined;
        // Wrapped in {v} so MySQL (parses JSON) and MariaDB (returns text) read back alike.
        const wrapped =
          typeof row.value === 'string' ? (JSON.parse(row.value) as { v: T }) : row.value;
        return wrapped.v;
      },
      set: async (callId: string, key: string, value: unknown): Promise<void> => {
        await this.db.query(
          `INSERT INTO connector_call_state (call_pk, integration_id, state_key, value) VALUES (?, ?, ?, ?)
           ON DUPLICATE KEY UPDATE value = VALUES(value)`,
          [await pkOf(callId), integration.id, key, JSON.stringify({ v: value ?? null })],
        );
      },
    };
  }
}
