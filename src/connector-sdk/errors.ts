/**
 * What went wrong, as a connector classifies it. Connectors never retry or sleep:
 * they throw one of these and the core decides (retry, delay, dead-letter, re-auth).
 */
export type ConnectorErrorCode =
  /** The CRM asked us to slow down; retry after `retryAfterMs`. */
  | 'rate_limited'
  /** Credentials are wrong, expired or revoked; the integration needs an admin. */
  | 'auth_invalid'
  /** The thing asked about does not exist in the CRM. */
  | 'not_found'
  /** A network error, timeout or 5xx: worth retrying later. */
  | 'temporary'
  /** The CRM refused the request as invalid; retrying the same request will not help. */
  | 'rejected';

/**
 * The error code the hub's outbound policy gives a connection it refused before connecting
 * (a loopback, private, link-local or metadata address a tenant supplied). The SDK only
 * recognises it: the policy lives in the hub and reaches connectors through the agents of
 * their HTTP clients.
 */
export const ADDRESS_NOT_ALLOWED_CODE = 'ERR_ADDRESS_NOT_ALLOWED';
/** The reason such a refusal shows on a failed action and in metrics. */
export const ADDRESS_NOT_ALLOWED = 'address_not_allowed';

export class ConnectorError extends Error {
  constructor(
    readonly code: ConnectorErrorCode,
    message: string,
    readonly details: {
      retryAfterMs?: number;
      status?: number;
      field?: string;
      /** A finer reason than the code, for the failed-actions metric (e.g. address_not_allowed). */
      reason?: string;
      /** The request never left the hub (its own rate limit held it): the CRM cannot have it. */
      notSent?: boolean;
    } = {},
  ) {
    super(message);
    this.name = 'ConnectorError';
  }

  get retryAfterMs(): number | undefined {
    return this.details.retryAfterMs;
  }

  static rateLimited(message: string, retryAfterMs: number, status?: number): ConnectorError {
    return new ConnectorError('rate_limited', message, { retryAfterMs, status });
  }
  static authInvalid(message: string, field?: string): ConnectorError {
    return new ConnectorError('auth_invalid', message, { field });
  }
  static notFound(message: string): ConnectorError {
    return new ConnectorError('not_found', message);
  }
  static temporary(message: string, status?: number): ConnectorError {
    return new ConnectorError('temporary', message, { status });
  }
  static rejected(message: string, status?: number): ConnectorError {
    return new ConnectorError('rejected', message, { status });
  }
  /**
   * The hub's outbound policy refused the address (loopback, private, metadata...): final,
   * like rejected, with the reason address_not_allowed. The message names the field, never
   * the address.
   */
  static addressNotAllowed(message: string): ConnectorError {
    return new ConnectorError('rejected', message, { reason: ADDRESS_NOT_ALLOWED });
  }
}

export function isConnectorError(err: unknown): err is ConnectorError {
  return err instanceof ConnectorError || (err as { name?: string })?.name === 'ConnectorError';
}
