import { isAxiosError } from 'axios';
import { ConnectorError, isConnectorError } from '../../src/connector-sdk';

/** The RetailCRM error envelope: `{success: false, errorMsg, errors}`. */
export interface RetailcrmErrorBody {
  success?: boolean;
  errorMsg?: string;
  errors?: Record<string, string> | string[];
}

/** Used when a throttled reply carries no Retry-After: the official clients wait 1 s. */
export const DEFAULT_RETRY_AFTER_MS = 1000;

const AUTH_MESSAGES = ['Wrong "apiKey" value.', '"apiKey" is missing.', 'Access denied.'];

/** Retry-After in seconds or as an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: unknown, now = Date.now()): number | undefined {
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

function describeErrors(errors: RetailcrmErrorBody['errors']): string {
  if (!errors) return '';
  const parts = Array.isArray(errors)
    ? errors.map(String)
    : Object.entries(errors).map(([field, problem]) => `${field}: ${String(problem)}`);
  return parts.length ? ` (${parts.join('; ')})` : '';
}

function asErrorBody(data: unknown): RetailcrmErrorBody {
  return data && typeof data === 'object' ? (data as RetailcrmErrorBody) : {};
}

/** A `{success:false}` answer with a 2xx status: RetailCRM refused the request. */
export function unsuccessfulReply(what: string, data: unknown): ConnectorError {
  const body = asErrorBody(data);
  return ConnectorError.rejected(
    `RetailCRM ${what}: ${body.errorMsg ?? 'success is not true'}${describeErrors(body.errors)}`,
  );
}

/** Classifies any failure of a RetailCRM request; the core decides what to do with it. */
export function toConnectorError(err: unknown, what: string): Error {
  if (isConnectorError(err)) return err;
  if (!isAxiosError(err)) return err instanceof Error ? err : new Error(String(err));
  const response = err.response;
  if (!response) {
    // No reply at all: timeout, refused or reset connection, DNS.
    return ConnectorError.temporary(
      `RetailCRM ${what}: ${err.code ?? 'network error'} ${err.message}`,
    );
  }
  const status = response.status;
  const contentType = String(response.headers?.['content-type'] ?? '');
  const body = asErrorBody(response.data);
  const detail = `${body.errorMsg ?? `HTTP ${status}`}${describeErrors(body.errors)}`;

  if (status === 429 || status === 503) {
    const delay = parseRetryAfter(response.headers?.['retry-after']) ?? DEFAULT_RETRY_AFTER_MS;
    return ConnectorError.rateLimited(`RetailCRM ${what}: ${detail}`, delay, status);
  }
  // RetailCRM answers non-GET requests to a missing account with an HTML 405.
  if (status === 405 && contentType.includes('text/html')) {
    return ConnectorError.authInvalid(`RetailCRM ${what}: Account does not exist`, 'url');
  }
  if (status === 401 || status === 403 || AUTH_MESSAGES.includes(body.errorMsg ?? '')) {
    return ConnectorError.authInvalid(`RetailCRM ${what}: ${detail}`, 'apiKey');
  }
  if (status === 404) return ConnectorError.notFound(`RetailCRM ${what}: ${detail}`);
  if (status >= 500) return ConnectorError.temporary(`RetailCRM ${what}: ${detail}`, status);
  return ConnectorError.rejected(`RetailCRM ${what}: ${detail}`, status);
}
