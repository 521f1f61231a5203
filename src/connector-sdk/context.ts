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
  /**
   * Stores `value` unless the key has one already, atomically across hub instances, and
   * returns the value that stands (this one or the earlier). Two actions of one call that
   * race to choose something (who registers the call) agree on the first choice.
   */
  setOnce<T>(callId: string, key: string, value: T): Promise<T>;
}

/**
 * Short-lived memory of an integration, shared by every hub instance (Redis): a CRM's
 * click-to-call waiting for the PBX to report the call it asked for, say.
 */
export interface IntegrationStore {
  /** Keeps `value` under `key` for `ttlS` seconds, replacing what was there. */
  put(key: string, value: unknown, ttlS: number): Promise<void>;
  /** Returns the value and deletes it, atomically: one taker gets it. */
  take<T = unknown>(key: string): Promise<T | undefined>;
}

/** What the tenant chose for the integration (read-only for the connector). */
export interface ConnectorSettings {
  popOnRinging: boolean;
  logCalls: boolean;
  attachRecordings: boolean;
  createLeadFor: 'missed' | 'unknown' | 'none';
  routeToResponsible: boolean;
}

/** The settings an integration has when its admin changed nothing. */
export const DEFAULT_CONNECTOR_SETTINGS: ConnectorSettings = {
  popOnRinging: true,
  logCalls: true,
  attachRecordings: true,
  createLeadFor: 'missed',
  routeToResponsible: true,
};

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
  store: IntegrationStore;
  /** The integration's settings; a changed setting builds a new connector instance. */
  settings: Readonly<ConnectorSettings>;
  /** Absolute URL of the hub's CRM callback route for this integration, e.g. "make-call". */
  callbackUrl(action: string): string;
  /** The hub's public base URL. */
  publicUrl: string;
}
