import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import axios, { AxiosInstance } from 'axios';
import { plainToInstance } from 'class-transformer';
import { validateSync, ValidationError } from 'class-validator';
import type {
  CallStateStore,
  ConnectorContext,
  ConnectorDefinition,
  ConnectorLogger,
  HttpClientOptions,
  Schema,
} from '../types';

export const DEFAULT_TIMEOUT_MS = 10_000;
export const MAX_TIMEOUT_MS = 30_000;

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
  definition: ConnectorDefinition<TConfig, TCredentials>;
  /** Plain config; validated against the definition's schema. */
  config: object;
  /** Plain credentials; validated against the definition's schema. */
  credentials: object;
  publicUrl?: string;
  integrationId?: string;
  tenantId?: string;
  /** Caps every client's timeout below what the connector asks (to test timeouts fast). */
  maxTimeoutMs?: number;
}

export interface TestContext<TConfig extends object, TCredentials extends object> {
  ctx: ConnectorContext<TConfig, TCredentials>;
  /** Every object passed to ctx.saveCredentials, in order. */
  savedCredentials: TCredentials[];
  /** The call-state store's contents, keyed "<callId>:<key>". */
  state: Map<string, unknown>;
  logs: TestLogLine[];
  /** Closes the keep-alive sockets of every client made through ctx.http. */
  dispose(): void;
}

/**
 * A ConnectorContext for tests: real axios over keep-alive agents (no rate limiting),
 * an in-memory call-state store, a collecting logger and the real clock. saveCredentials
 * records the object and makes it the context's credentials, as the hub would on reload.
 */
export function createTestContext<TConfig extends object, TCredentials extends object>(
  options: TestContextOptions<TConfig, TCredentials>,
): TestContext<TConfig, TCredentials> {
  const { definition } = options;
  const publicUrl = (options.publicUrl ?? 'https://hub.example.test').replace(/\/+$/, '');
  const integrationId = options.integrationId ?? 'int-test';
  const savedCredentials: TCredentials[] = [];
  const state = new Map<string, unknown>();
  const logs: TestLogLine[] = [];
  const httpAgent = new HttpAgent({ keepAlive: true });
  const httpsAgent = new HttpsAgent({ keepAlive: true });

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
  };

  const ctx: ConnectorContext<TConfig, TCredentials> = {
    integrationId,
    tenantId: options.tenantId ?? 'tenant-test',
    config: validateConnectorInput(definition.configSchema, options.config, 'config'),
    credentials: validateConnectorInput(
      definition.credentialsSchema,
      options.credentials,
      'credentials',
    ),
    http(http: HttpClientOptions): AxiosInstance {
      let timeout = Math.min(http.timeoutMs ?? DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS);
      if (options.maxTimeoutMs !== undefined) timeout = Math.min(timeout, options.maxTimeoutMs);
      return axios.create({
        baseURL: http.baseURL,
        timeout,
        headers: http.headers,
        httpAgent,
        httpsAgent,
      });
    },
    logger,
    clock: { now: () => new Date() },
    async saveCredentials(next: TCredentials): Promise<void> {
      savedCredentials.push(next);
      ctx.credentials = next;
    },
    callState,
    callbackUrl: (action: string) =>
      `${publicUrl}/v1/crm/${definition.id}/${integrationId}/${action}`,
    publicUrl,
  };

  return {
    ctx,
    savedCredentials,
    state,
    logs,
    dispose: () => {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
