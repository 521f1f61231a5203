import { isAxiosError } from 'axios';
import {
  ADDRESS_NOT_ALLOWED,
  ADDRESS_NOT_ALLOWED_CODE,
  ConnectorError,
  isConnectorError,
} from './errors';

/** Used when a throttled reply carries no Retry-After. */
export const DEFAULT_RETRY_AFTER_MS = 1000;

/** True when the error, or an error it wraps (`cause`), is the outbound policy refusing an address. */
export function isAddressNotAllowed(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e && typeof e === 'object'; depth++) {
    const { code, reason, cause } = e as { code?: unknown; reason?: unknown; cause?: unknown };
    if (code === ADDRESS_NOT_ALLOWED_CODE || reason === ADDRESS_NOT_ALLOWED) return true;
    e = cause;
  }
  return false;
}

const NETWORK_FAILURES: [RegExp, string][] = [
  [/^(ETIMEDOUT|ECONNABORTED|ESOCKETTIMEDOUT|UND_ERR_CONNECT_TIMEOUT)$/, 'timed out'],
  [/^ECONNREFUSED$/, 'connection refused'],
  [/^(ECONNRESET|EPIPE|ERR_STREAM_PREMATURE_CLOSE)$/, 'connection reset'],
  [/^(ENOTFOUND|EAI_AGAIN|EAI_NONAME|EAI_FAIL)$/, 'host name not resolved'],
  [/^(EHOSTUNREACH|ENETUNREACH|EHOSTDOWN|ENETDOWN)$/, 'host unreachable'],
  [/CERT|SSL|TLS|OSSL/, 'TLS handshake failed'],
  [/^(ERR_FR_MAX_BODY_LENGTH_EXCEEDED|ERR_BAD_RESPONSE)$/, 'reply too large or malformed'],
];

/**
 * A failed connection in words a tenant may read: the kind of failure, never the socket's
 * own text, which names addresses and ports ("connect ECONNREFUSED 10.0.0.5:8080").
 */
export function describeNetworkFailure(err: unknown): string {
  if (isAddressNotAllowed(err)) return 'address not allowed';
  const code = String((err as { code?: unknown } | null)?.code ?? '');
  for (const [pattern, text] of NETWORK_FAILURES) if (pattern.test(code)) return text;
  return 'network error';
}

/** Retry-After in seconds or as an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: unknown, now = Date.now()): number | undefined {
  if (typeof value !== 'string' && typeof value !== 'number') return undefined;
  const text = String(value).trim();
  if (text === '') return undefined;
  const seconds = Number(text);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export interface HttpFailureOptions {
  /** The credential a 401/403 blames (default "apiKey"). */
  authField?: string;
  /** Statuses that mean "slow down" (default 429 and 503). */
  throttleStatuses?: readonly number[];
  /** The CRM's own words for the failure, read from its error body. */
  detail?: (data: unknown) => string | undefined;
}

/**
 * The usual reading of a failed HTTP request, for a connector's errors file to refine with
 * the CRM's own signals: no reply → temporary; 429/503 → rate_limited after Retry-After (at
 * least a second when absent); 401/403 → auth_invalid; 404 → not_found; 5xx → temporary;
 * any other 4xx → rejected.
 */
export function classifyHttpFailure(
  err: unknown,
  what: string,
  options: HttpFailureOptions = {},
): Error {
  if (isConnectorError(err)) return err;
  // Before connecting: the address is not one the hub may reach; retrying changes nothing.
  if (isAddressNotAllowed(err))
    return ConnectorError.addressNotAllowed(`${what}: address not allowed`);
  if (!isAxiosError(err)) return err instanceof Error ? err : new Error(String(err));
  const response = err.response;
  if (!response) {
    // No reply at all: timeout, refused or reset connection, DNS. The socket's own message
    // names addresses and ports, which the tenant reading this must not learn.
    return ConnectorError.temporary(`${what}: ${describeNetworkFailure(err)}`);
  }
  const status = response.status;
  const detail = `${what}: ${options.detail?.(response.data) ?? `HTTP ${status}`}`;
  if ((options.throttleStatuses ?? [429, 503]).includes(status)) {
    const delay = parseRetryAfter(response.headers?.['retry-after']) ?? DEFAULT_RETRY_AFTER_MS;
    return ConnectorError.rateLimited(detail, delay, status);
  }
  if (status === 401 || status === 403) {
    return ConnectorError.authInvalid(detail, options.authField ?? 'apiKey');
  }
  if (status === 404) return ConnectorError.notFound(detail);
  if (status >= 500) return ConnectorError.temporary(detail, status);
  return ConnectorError.rejected(detail, status);
}
