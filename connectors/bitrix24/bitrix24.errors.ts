import { isAxiosError } from 'axios';
import {
  classifyHttpFailure,
  ConnectorError,
  DEFAULT_RETRY_AFTER_MS,
  isConnectorError,
  parseRetryAfter,
} from '../../src/connector-sdk';

/** Bitrix24's error body. A throttled reply may carry the envelope's `time` as well. */
export interface B24Error {
  error?: string;
  error_description?: string;
  time?: { operating_reset_at?: number };
}

/** When a method's time budget is spent and no reset time is given: Bitrix24 counts 10 minutes. */
const OPERATION_LIMIT_DEFAULT_MS = 60_000;
/** A portal blocked by hand (OVERLOAD_LIMIT) is not back within seconds. */
const OVERLOAD_WAIT_MS = 5 * 60_000;

function asError(data: unknown): B24Error {
  return data && typeof data === 'object' ? (data as B24Error) : {};
}

/** "CODE: description", or whichever of them there is. */
export function describeB24(e: B24Error): string | undefined {
  const parts = [e.error, e.error_description].filter((p): p is string => Boolean(p));
  return parts.length ? parts.join(': ') : undefined;
}

/** A method's own refusal that names a call Bitrix24 no longer has open. */
export function isCallNotFound(e: B24Error): boolean {
  return /call is not found/i.test(e.error_description ?? '');
}

/**
 * The wait an OPERATION_TIME_LIMIT asks for: until `operating_reset_at` when the reply says
 * when, else a minute.
 */
function operationWait(e: B24Error, nowMs: number): number {
  const reset = Number(e.time?.operating_reset_at);
  if (Number.isFinite(reset) && reset > 0) return Math.max(1000, reset * 1000 - nowMs);
  return OPERATION_LIMIT_DEFAULT_MS;
}

/**
 * Classifies a Bitrix24 error, from an HTTP reply or a batch sub-result. Throttling
 * (QUERY_LIMIT_EXCEEDED, OPERATION_TIME_LIMIT, OVERLOAD_LIMIT) waits; a refused token, a
 * webhook where an application is needed, a missing scope or a deleted portal needs an
 * admin; other method errors are final.
 */
export function fromB24(
  e: B24Error,
  status: number | undefined,
  what: string,
  nowMs: number,
  retryAfterMs?: number,
): ConnectorError {
  const code = (e.error ?? '').toUpperCase();
  const text = `Bitrix24 ${what}: ${describeB24(e) ?? `HTTP ${status ?? '?'}`}`;
  // The bucket drains a request in half a second; wait a second unless told otherwise.
  const throttled = Math.max(retryAfterMs ?? 0, DEFAULT_RETRY_AFTER_MS);
  if (code === 'QUERY_LIMIT_EXCEEDED') return ConnectorError.rateLimited(text, throttled, status);
  if (code === 'OPERATION_TIME_LIMIT')
    return ConnectorError.rateLimited(text, operationWait(e, nowMs), status);
  if (code === 'OVERLOAD_LIMIT') return ConnectorError.rateLimited(text, OVERLOAD_WAIT_MS, status);
  if (code === 'WRONG_AUTH_TYPE') {
    return ConnectorError.authInvalid(
      `${text} (the telephony methods need the hub installed as a Bitrix24 application, not a webhook)`,
      'accessToken',
    );
  }
  if (
    ['EXPIRED_TOKEN', 'INVALID_TOKEN', 'NO_AUTH_FOUND', 'INVALID_CREDENTIALS'].includes(code) ||
    ['INSUFFICIENT_SCOPE', 'ACCESS_DENIED', 'USER_ACCESS_ERROR', 'PORTAL_DELETED'].includes(code)
  ) {
    return ConnectorError.authInvalid(text, 'accessToken');
  }
  if (code === 'ERROR_METHOD_NOT_FOUND') return ConnectorError.rejected(text, status);
  if (status === undefined) {
    // A batch sub-result: INTERNAL_SERVER_ERROR and the like are worth another try.
    return /INTERNAL|UNEXPECTED/.test(code)
      ? ConnectorError.temporary(text)
      : ConnectorError.rejected(text);
  }
  if (status === 401 || status === 403) return ConnectorError.authInvalid(text, 'accessToken');
  if (status === 429 || status === 503) return ConnectorError.rateLimited(text, throttled, status);
  if (status >= 500) return ConnectorError.temporary(text, status);
  return ConnectorError.rejected(text, status);
}

/** Classifies a failed HTTP request to Bitrix24 (a reply with an error body, or none). */
export function toConnectorError(err: unknown, what: string, nowMs: number): Error {
  if (isConnectorError(err) || !isAxiosError(err) || !err.response) {
    return classifyHttpFailure(err, `Bitrix24 ${what}`, { authField: 'accessToken' });
  }
  const body = asError(err.response.data);
  if (!body.error && !body.error_description) {
    return classifyHttpFailure(err, `Bitrix24 ${what}`, { authField: 'accessToken' });
  }
  const retryAfter = parseRetryAfter(err.response.headers?.['retry-after'], nowMs);
  return fromB24(body, err.response.status, what, nowMs, retryAfter);
}
