import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { AxiosInstance } from 'axios';
import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';
import type { TokenSet } from '../auth';
import type {
  CallStateStore,
  ConnectorContext,
  ConnectorLogger,
  ConnectorSettings,
  IntegrationStore,
} from '../context';
import { DEFAULT_CONNECTOR_SETTINGS } from '../context';
import type { AnyConnectorDefinition, ConnectorDefinition, Schema } from '../definition';
import { buildHttpClient, HttpClientOptions, requestAuthFor } from '../http';
import { MemoryTokenVault, OAuthSession, tokenSender } from '../oauth';
import type { Capability } from '../capabilities';

function describeErrors(errors: ValidationError[], parent = ''): string[] {
  return errors.flatMap((error) => {
    const path = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.values(error.constraints ?? {}).map((message) =>
      message.startsWith(`${error.property} `)
        ? `${path}${message.slice(error.property.length)}`
        : `${path}: ${message}`,
    );
    return [...own, ...describeErrors(error.children ?? [], path)];
  });
}

/**
 * Validates config or credentials against a connector schema the way the hub does
 * (whitelist, unknown fields rejected, class defaults applied). Throws an Error naming
 * every bad field.
 */
export function validateConnectorInput<T extends object>(
  schema: Schema<T>,
  plain: unknown,
  label = 'input',
): T {
  if (plain === null || typeof plain !== 'object' || Array.isArray(plain)) {
    throw new Error(`${label} must be an object`);
  }
  const instance = plainToInstance(schema, plain);
  const errors = validateSync(instance, {
    whitelist: true,
    forbidNonWhitelisted: true,
    forbidUnknownValues: true,
  });
  if (errors.length) throw new Error(`${label} is invalid: ${describeErrors(errors).join('; ')}`);
  return instance;
}

export interface TestLogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  msg: string;
  data?: Record<string, unknown>;
}

export interface TestContextOptions<TConfig extends object, TCredentials extends object> {
  definition: ConnectorDefinition<TConfig, TCredentials, Capability> | AnyConnectorDefinition;
  /** Plain config; validated against the definition's schema. */
  config: object;
  /** Plain credentials; validated against the definition's schema. */
  credentials: object;
  publicUrl?: string;
  integrationId?: string;
  tenantId?: string;
  /** Caps every client's timeout below what the connector asks (to test timeouts fast). */
  maxTimeoutMs?: number;
  /** An OAuth connector's stored tokens, as if the integration had been connected. */
  tokens?: TokenSet;
  /** The integration's settings (the hub's defaults where not given). */
  settings?: Partial<ConnectorSettings>;
}

export interface TestContext<TConfig extends object, TCredentials extends object> {
  ctx: ConnectorContext<TConfig, TCredentials>;
  /** Every object passed to ctx.saveCredentials, in order. */
  savedCredentials: TCredentials[];
  /** The OAuth tokens as the core would keep them (every refresh is in `vault.writes`). */
  vault: MemoryTokenVault;
  /** The OAuth session the context applies (null for other schemes). */
  session: OAuthSession<object, object> | null;
  /** The call-state store's contents, keyed "<callId>:<key>". */
  state: Map<string, unknown>;
  /** The integration store's contents (expiry not modelled). */
  store: Map<string, unknown>;
  logs: TestLogLine[];
  /** Closes the keep-alive sockets of every client made through ctx.http. */
  dispose(): void;
}

/**
 * A ConnectorContext for tests, built like the hub builds one: the same HTTP client builder
 * (timeouts, no redirects, size cap, the definition's auth applied, OAuth refreshed once),
 * without rate limiting; an in-memory call-state store and token vault, a collecting
 * logger and the real clock.
 */
export function createTestContext<TConfig extends object, TCredentials extends object>(
  options: TestContextOptions<TConfig, TCredentials>,
): TestContext<TConfig, TCredentials> {
  const definition = options.definition as AnyConnectorDefinition;
  const publicUrl = (options.publicUrl ?? 'https://hub.example.test').replace(/\/+$/, '');
  const integrationId = options.integrationId ?? 'int-test';
  const savedCredentials: TCredentials[] = [];
  const state = new Map<string, unknown>();
  const logs: TestLogLine[] = [];
  const agents = {
    http: new HttpAgent({ keepAlive: true }),
    https: new HttpsAgent({ keepAlive: true }),
  };
  const vault = new MemoryTokenVault(options.tokens ?? null);

  const log =
    (level: TestLogLine['level']) =>
    (msg: string, data?: Record<string, unknown>): void => {
      logs.push(data ? { level, msg, data } : { level, msg });
    };
  const logger: ConnectorLogger = {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
  };
  const callState: CallStateStore = {
    async get<T = unknown>(callId: string, key: string): Promise<T | undefined> {
      return state.get(`${callId}:${key}`) as T | undefined;
    },
    async set(callId: string, key: string, value: unknown): Promise<void> {
      state.set(`${callId}:${key}`, value);
    },
    async setOnce<T>(callId: string, key: string, value: T): Promise<T> {
      const k = `${callId}:${key}`;
      if (!state.has(k)) state.set(k, value);
      return state.get(k) as T;
    },
  };
  const store = new Map<string, unknown>();
  const integrationStore: IntegrationStore = {
    async put(key: string, value: unknown): Promise<void> {
      store.set(key, value);
    },
    async take<T>(key: string): Promise<T | undefined> {
      const value = store.get(key) as T | undefined;
      store.delete(key);
      return value;
    },
  };
  const config = validateConnectorInput(
    definition.configSchema,
    options.config,
    'config',
  ) as TConfig;
  const credentials = validateConnectorInput(
    definition.credentialsSchema,
    options.credentials,
    'credentials',
  ) as TCredentials;
  const plainClient = (http: HttpClientOptions): AxiosInstance =>
    buildHttpClient({ ...http, agents, maxTimeoutMs: options.maxTimeoutMs, requestAuth: null });
  const session =
    definition.auth.type === 'oauth2'
      ? new OAuthSession({
          scheme: definition.auth,
          config,
          credentials,
          vault,
          send: tokenSender(plainClient({ baseURL: '' })),
          redirectUri: `${publicUrl}/v1/crm/${definition.id}/oauth`,
          now: () => new Date(),
        })
      : null;
  const requestAuth = requestAuthFor(definition.auth, () => ctx.credentials, session);

  const ctx: ConnectorContext<TConfig, TCredentials> = {
    integrationId,
    tenantId: options.tenantId ?? 'tenant-test',
    config,
    credentials,
    http: (http) =>
      buildHttpClient({ ...http, agents, maxTimeoutMs: options.maxTimeoutMs, requestAuth }),
    logger,
    clock: { now: () => new Date() },
    async saveCredentials(next: TCredentials): Promise<void> {
      savedCredentials.push(next);
      ctx.credentials = next;
    },
    grantExtras: async () => (await vault.read())?.extra ?? {},
    callState,
    store: integrationStore,
    settings: { ...DEFAULT_CONNECTOR_SETTINGS, ...options.settings },
    callbackUrl: (action: string) =>
      `${publicUrl}/v1/crm/${definition.id}/${integrationId}/${action}`,
    publicUrl,
  };

  return {
    ctx,
    savedCredentials,
    vault,
    session,
    state,
    store,
    logs,
    dispose: () => {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}
