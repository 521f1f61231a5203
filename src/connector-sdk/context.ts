import type { AxiosInstance } from 'axios';
import type { HttpClientOptions } from './http';

export interface ConnectorLogger {
  debug(msg: string, data?: Record<string, unknown>): void;
  info(msg: string, data?: Record<string, unknown>): void;
  warn(msg: string, data?: Record<string, unknown>): void;
  error(msg: string, data?: Record<string, unknown>): void;
}

/** Per-call memory of a connector (e.g. a CRM's own call id from `register`), kept by the hub. */
export interface CallStateStore {
  get<T = unknown>(callId: string, key: string): Promise<T | undefined>;
  set(callId: string, key: string, value: unknown): Promise<void>;
}

export interface ConnectorContext<
  TConfig extends object = object,
  TCredentials extends object = object,
> {
  integrationId: string;
  tenantId: string;
  config: TConfig;
  credentials: TCredentials;
  /**
   * An axios instance with the integration's credentials applied (the definition's `auth`),
   * its rate-limit buckets, a timeout, keep-alive, no redirects and a reply size cap.
   * Create one per base URL.
   */
  http(options: HttpClientOptions): AxiosInstance;
  logger: ConnectorLogger;
  clock: { now(): Date };
  /** Persists changed credentials (a generated client id); OAuth tokens are the core's business. */
  saveCredentials(next: TCredentials): Promise<void>;
  /** What the token endpoint said besides the tokens (an OAuth grant's API endpoint, say). */
  grantExtras(): Promise<Record<string, string>>;
  callState: CallStateStore;
  /** Absolute URL of the hub's CRM callback route for this integration, e.g. "make-call". */
  callbackUrl(action: string): string;
  /** The hub's public base URL. */
  publicUrl: string;
}
