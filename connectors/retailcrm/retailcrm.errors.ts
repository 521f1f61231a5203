import { isAxiosError } from 'axios';
import { classifyHttpFailure, ConnectorError, isConnectorError } from '../../src/connector-sdk';

/** The RetailCRM error envelope: `{success: false, errorMsg, errors}`. */
export interface RetailcrmErrorBody {
  success?: boolean;
  errorMsg?: string;
  errors?: Record<string, string> | string[];
}

const AUTH_MESSAGES = ['Wrong "apiKey" value.', '"apiKey" is missing.', 'Access denied.'];

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
  if (isConnectorError(err) || !isAxiosError(err) || !err.response) {
    return classifyHttpFailure(err, `RetailCRM ${what}`);
  }
  const response = err.response;
  const status = response.status;
  const contentType = String(response.headers?.['content-type'] ?? '');
  const body = asErrorBody(response.data);
  const detail = `${body.errorMsg ?? `HTTP ${status}`}${describeErrors(body.errors)}`;
  // RetailCRM answers non-GET requests to a missing account with an HTML 405.
  if (status === 405 && contentType.includes('text/html')) {
    return ConnectorError.authInvalid(`RetailCRM ${what}: Account does not exist`, 'url');
  }
  if (status !== 429 && status !== 503 && AUTH_MESSAGES.includes(body.errorMsg ?? '')) {
    return ConnectorError.authInvalid(`RetailCRM ${what}: ${detail}`, 'apiKey');
  }
  return classifyHttpFailure(err, `RetailCRM ${what}`, { detail: () => detail });
}
