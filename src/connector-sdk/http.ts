import axios, { AxiosInstance, AxiosResponse, InternalAxiosRequestConfig } from 'axios';
import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import type { AuthScheme } from './auth';
import { ConnectorError } from './errors';
import { isAddressNotAllowed, parseRetryAfter } from './http-errors';
import type { OAuthSession } from './oauth';

export const DEFAULT_TIMEOUT_MS = 10_000;
export const MIN_TIMEOUT_MS = 100;
export const MAX_TIMEOUT_MS = 30_000;
/** No CRM reply the hub reads is this large; a bigger one is cut off, not buffered. */
export const MAX_REPLY_BYTES = 10 * 1024 * 1024;

export interface HttpClientOptions {
  baseURL: string;
  /** Per-request timeout; default 10 s, between 0.1 and 30 s. */
  timeoutMs?: number;
  headers?: Record<string, string>;
  /** false: this client's requests go without the integration's credentials. */
  auth?: false;
}

/** Puts the integration's credentials on a request, and renews them once after a 401. */
export interface RequestAuth {
  /** Applies the credential; returns the token used, so a later 401 can tell if it is stale. */
  apply(config: InternalAxiosRequestConfig): Promise<string | null>;
  /** After a 401: true when a renewed credential is worth one more try. */
  renew?(used: string | null): Promise<boolean>;
}

export interface HttpHooks {
  /**
   * Before each request leaves (the hub's shared rate limiter; marking a create as possibly
   * sent): may throw rate_limited. A request that changes the CRM must not be a GET or HEAD.
   */
  beforeRequest?(path: string, method: string): Promise<void>;
  /** After each reply (status) or failure without one (undefined), e.g. for metrics and pauses. */
  afterResponse?(path: string, status: number | undefined, retryAfterMs: number | undefined): void;
}

export interface BuildHttpOptions extends HttpClientOptions {
  /**
   * The hub passes agents that apply its outbound policy at connect time (every address the
   * client connects to, redirects included, is checked after DNS resolution).
   */
  agents: { http: HttpAgent; https: HttpsAgent };
  /**
   * The config field the base URL comes from (e.g. "config.url"), named when the outbound
   * policy refuses the address: "config.url: address not allowed".
   */
  addressField?: string;
  requestAuth?: RequestAuth | null;
  hooks?: HttpHooks;
  /** Caps the timeout below what the connector asks (tests of timeouts). */
  maxTimeoutMs?: number;
}

type HubRequestConfig = InternalAxiosRequestConfig & {
  hubUsedToken?: string | null;
  hubRetried?: boolean;
};

/** Path of a request relative to the client's base URL, for rate-limit bucket matching. */
export function requestPath(cfg: Pick<InternalAxiosRequestConfig, 'url' | 'baseURL'>): string {
  const url = cfg.url ?? '';
  if (/^https?:\/\//i.test(url)) {
    const full = new URL(url);
    const base = cfg.baseURL ? new URL(cfg.baseURL).pathname.replace(/\/+$/, '') : '';
    return full.pathname.startsWith(base) ? full.pathname.slice(base.length) : full.pathname;
  }
  return `/${url.replace(/^\/+/, '')}`;
}

export function clampTimeout(timeoutMs: number | undefined, cap?: number): number {
  const t = Math.min(Math.max(timeoutMs ?? DEFAULT_TIMEOUT_MS, MIN_TIMEOUT_MS), MAX_TIMEOUT_MS);
  return cap === undefined ? t : Math.min(t, cap);
}

/**
 * The one HTTP client builder: the hub's runtime and the SDK's test context both use it, so a
 * connector meets the same timeouts, redirects (none), reply size cap and auth in tests as in
 * production.
 */
export function buildHttpClient(o: BuildHttpOptions): AxiosInstance {
  const client = axios.create({
    baseURL: o.baseURL,
    timeout: clampTimeout(o.timeoutMs, o.maxTimeoutMs),
    headers: o.headers,
    httpAgent: o.agents.http,
    httpsAgent: o.agents.https,
    maxRedirects: 0,
    maxContentLength: MAX_REPLY_BYTES,
    maxBodyLength: MAX_REPLY_BYTES,
    // A proxy from the environment would make the agents' address check see the proxy only.
    proxy: false,
  });
  const auth = o.auth === false ? null : (o.requestAuth ?? null);
  client.interceptors.request.use(async (cfg: HubRequestConfig) => {
    await o.hooks?.beforeRequest?.(requestPath(cfg), (cfg.method ?? 'get').toUpperCase());
    if (auth) cfg.hubUsedToken = await auth.apply(cfg);
    return cfg;
  });
  client.interceptors.response.use(
    (res: AxiosResponse) => {
      o.hooks?.afterResponse?.(requestPath(res.config), res.status, undefined);
      return res;
    },
    async (err: unknown) => {
      const response = axios.isAxiosError(err) ? err.response : undefined;
      const cfg = (axios.isAxiosError(err) ? err.config : undefined) as
        HubRequestConfig | undefined;
      if (cfg) {
        o.hooks?.afterResponse?.(
          requestPath(cfg),
          response?.status,
          parseRetryAfter(response?.headers?.['retry-after']),
        );
      }
      if (response?.status === 401 && cfg && auth?.renew && !cfg.hubRetried) {
        cfg.hubRetried = true;
        if (await auth.renew(cfg.hubUsedToken ?? null)) return client.request(cfg);
      }
      if (!response && isAddressNotAllowed(err)) {
        throw ConnectorError.addressNotAllowed(
          `${o.addressField ?? 'the address'}: address not allowed`,
        );
      }
      throw err;
    },
  );
  return client;
}

/** How the scheme's credential goes on each request. */
export function requestAuthFor(
  scheme: AuthScheme<object, object>,
  credentials: () => object,
  session: OAuthSession<object, object> | null,
): RequestAuth | null {
  if (scheme.type === 'none') return null;
  if (scheme.type === 'apiKey') {
    return {
      apply: async (cfg) => {
        const key = String((credentials() as Record<string, unknown>)[scheme.credential] ?? '');
        if (scheme.query) cfg.params = { ...(cfg.params as object), [scheme.query]: key };
        else cfg.headers.set(scheme.header ?? 'Authorization', key);
        return key;
      },
    };
  }
  if (!session) throw new Error('an oauth2 connector needs an OAuth session');
  const placement = scheme.placement ?? { type: 'bearer' };
  return {
    apply: async (cfg) => {
      const token = await session.accessToken();
      if (placement.type === 'query') {
        cfg.params = { ...(cfg.params as object), [placement.name]: token };
      } else {
        cfg.headers.set('Authorization', `Bearer ${token}`);
      }
      return token;
    },
    renew: async (used) => {
      await session.renew(used ?? '');
      return true;
    },
  };
}
