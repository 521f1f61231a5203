import { isAxiosError } from 'axios';
import { ConnectorError, isConnectorError } from './errors';

/** Used when a throttled reply carries no Retry-After. */
export const DEFAULT_RETRY_AFTER_MS = 1000;

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
  if (!isAxiosError(err)) return err instanceof Error ? err : new Error(String(err));
  const response = err.response;
  if (!response) {
    // No reply at all: timeout, refused or reset connection, DNS.
    return ConnectorError.temporary(`${what}: ${err.code ?? 'network error'} ${err.message}`);
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
