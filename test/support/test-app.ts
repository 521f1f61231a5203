import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/bootstrap';
import { AppConfig } from '../../src/config/config';
import { migrate } from '../../src/database/database';
import { signHubPayload } from '../../src/tenants/hub-signature';
import { ADMIN_TOKEN, dropTestResources, testConfig } from './test-env';

export interface TestApp {
  app: NestFastifyApplication;
  config: AppConfig;
  url: string;
  db: DataSource;
  request(method: string, path: string, options?: RequestOptions): Promise<TestResponse>;
  close(): Promise<void>;
}

export interface RequestOptions {
  body?: unknown;
  rawBody?: string;
  headers?: Record<string, string>;
  /** Send the operator token (default true unless headers carry X-Api-Key or a signature). */
  admin?: boolean;
}

export interface TestResponse {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  text: string;
  headers: Headers;
}

/**
 * Boots the real app on an ephemeral port (HUB_PORT's when the overrides give one, for a
 * HUB_PUBLIC_URL a sandbox fetches from) against the file's own database and Redis prefix.
 */
export async function startTestApp(overrides: Record<string, string> = {}): Promise<TestApp> {
  const config = testConfig(overrides);
  await migrate(config.databaseUrl);
  const app = await createApp(config);
  await app.listen({ port: overrides.HUB_PORT ? config.port : 0, host: '127.0.0.1' });
  const address = app.getHttpServer().address() as { port: number };
  const url = `http://127.0.0.1:${address.port}`;
  const db = app.get(DataSource);
  return {
    app,
    config,
    url,
    db,
    request: (method, path, options) => httpRequest(url, method, path, options),
    close: async () => {
      await app.close();
      await dropTestResources(config);
    },
  };
}

export async function httpRequest(
  base: string,
  method: string,
  path: string,
  options: RequestOptions = {},
): Promise<TestResponse> {
  const headers: Record<string, string> = { ...(options.headers ?? {}) };
  const hasOtherAuth = Object.keys(headers).some((h) =>
    /^(x-api-key|x-hub-signature|authorization)$/i.test(h),
  );
  if (options.admin ?? !hasOtherAuth) headers.authorization = `Bearer ${ADMIN_TOKEN}`;
  let payload: string | undefined = options.rawBody;
  if (payload === undefined && options.body !== undefined && !['GET', 'HEAD'].includes(method)) {
    payload = JSON.stringify(options.body);
  }
  if (
    payload !== undefined &&
    !Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')
  ) {
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(`${base}${path}`, { method, headers, body: payload });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = text;
  }
  return { status: res.status, body, text, headers: res.headers };
}

/** Headers of a body signed with the tenant's webhook secret. */
export function signedHeaders(
  secret: string,
  rawBody: string,
  timestamp = Math.floor(Date.now() / 1000),
): Record<string, string> {
  return {
    'content-type': 'application/json',
    'x-hub-timestamp': String(timestamp),
    'x-hub-signature': signHubPayload(secret, timestamp, rawBody),
  };
}

export interface CreatedTenant {
  id: string;
  apiKey: string;
  webhookSecret: string;
}

export async function createTenant(
  t: TestApp,
  body: Record<string, unknown> = { name: 'Acme' },
): Promise<CreatedTenant> {
  const res = await t.request('POST', '/v1/tenants', { body });
  if (res.status !== 201) throw new Error(`tenant creation failed: ${res.status} ${res.text}`);
  return res.body as CreatedTenant;
}

/** Posts events signed with the tenant's secret. */
export async function postEvents(
  t: TestApp,
  tenant: CreatedTenant,
  payload: unknown,
): Promise<TestResponse> {
  const raw = JSON.stringify(payload);
  return t.request('POST', `/v1/pbx/${tenant.id}/events`, {
    rawBody: raw,
    headers: signedHeaders(tenant.webhookSecret, raw),
  });
}

/** Polls until the predicate holds or the time is up; the last value is returned for assertions. */
export async function eventually<T>(
  fn: () => Promise<T>,
  done: (v: T) => boolean,
  timeoutMs = 10000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = await fn();
  while (!done(last) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    last = await fn();
  }
  return last;
}
