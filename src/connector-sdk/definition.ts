import type { AuthScheme } from './auth';
import type { BaseConnector, Capability, Connector } from './capabilities';
import type { ConnectorContext } from './context';

/**
 * A CRM's published request limit. Requests whose path starts with `pathPrefix`
 * count against this bucket; the bucket without a prefix takes the rest.
 */
export interface RateLimitBucket {
  name: string;
  requestsPerSecond: number;
  pathPrefix?: string;
  /**
   * A leaky bucket instead of a window (Bitrix24): up to `burst` requests at once, then
   * `requestsPerSecond` as the bucket drains.
   */
  burst?: number;
}

/** Limits of the CRM API that the core respects when it batches. */
export interface ConnectorLimits {
  /** The most calls one logCalls may carry (RetailCRM: 50 per history upload). Default 1. */
  logBatch?: number;
  /**
   * How long a finished call's log waits for others to share its request, where requests are
   * scarce (Bitrix24 drains 2 a second). Default 0: logged at once.
   */
  logBatchWaitMs?: number;
}

export type Schema<T> = new () => T;

export interface ConnectorDefinition<
  TConfig extends object = object,
  TCredentials extends object = object,
  C extends Capability = Capability,
> {
  /** Equal to the connector's folder name. */
  id: string;
  displayName: string;
  version: string;
  capabilities: readonly C[];
  configSchema: Schema<TConfig>;
  credentialsSchema: Schema<TCredentials>;
  /** How requests are signed in; the core applies it (and refreshes OAuth tokens). */
  auth: AuthScheme<TConfig, TCredentials>;
  rateLimits: readonly RateLimitBucket[];
  /**
   * The integration's own buckets when its CRM plan has other limits (Bitrix24 Enterprise or
   * an on-premises portal), with the same names; default `rateLimits`.
   */
  rateLimitsFor?(config: TConfig): readonly RateLimitBucket[];
  /**
   * What the CRM's limits count per, when it is more than one integration: the account
   * (amoCRM's 7 requests a second per account, whatever integrations share it). Default:
   * each integration has its own.
   */
  rateLimitScope?(config: TConfig): string;
  limits?: ConnectorLimits;
  /**
   * The CRM makes a call's lead itself when the call is registered with it (Bitrix24's
   * CRM_CREATE): the caller then looks known by the time the call ends, so the core asks
   * `findLead` for the call's own lead before it skips a known caller.
   */
  leadsAtRegistration?: boolean;
  create(ctx: ConnectorContext<TConfig, TCredentials>): Connector<C>;
}

/** A definition of any config, credentials and capabilities, as the registry holds them. */
export interface AnyConnectorDefinition extends Omit<
  ConnectorDefinition<object, object, Capability>,
  'create' | 'auth' | 'rateLimitScope' | 'rateLimitsFor'
> {
  auth: AuthScheme<object, object>;
  rateLimitScope?(config: object): string;
  rateLimitsFor?(config: object): readonly RateLimitBucket[];
  create(ctx: ConnectorContext<object, object>): BaseConnector;
}

/**
 * Declares a connector. The capability list is inferred, so the compiler checks that
 * `create` returns every method those capabilities need.
 */
export function defineConnector<
  TConfig extends object,
  TCredentials extends object,
  const C extends Capability,
>(
  definition: ConnectorDefinition<TConfig, TCredentials, C>,
): ConnectorDefinition<TConfig, TCredentials, C> {
  return definition;
}
