import { isAxiosError } from 'axios';
import { classifyHttpFailure, ConnectorError, isConnectorError } from '../../src/connector-sdk';

/** amoCRM's error body (problem+json), with the validation errors of a 400. */
export interface AmoProblem {
  title?: string;
  status?: number;
  detail?: string;
  hint?: string;
  'validation-errors'?: {
    request_id?: string;
    errors?: { code?: string; path?: string; detail?: string }[];
  }[];
}

export interface AmoFieldError {
  /** The index of the item in the request's array. */
  item: number;
  code: string;
  path: string;
  detail: string;
}

function asProblem(data: unknown): AmoProblem {
  return data && typeof data === 'object' ? (data as AmoProblem) : {};
}

/** Every field error of a 400, by item. */
export function fieldErrors(err: unknown): AmoFieldError[] {
  if (!isAxiosError(err) || err.response?.status !== 400) return [];
  const out: AmoFieldError[] = [];
  for (const group of asProblem(err.response.data)['validation-errors'] ?? []) {
    const item = Number(group.request_id ?? 0);
    for (const e of group.errors ?? []) {
      out.push({
        item: Number.isInteger(item) ? item : 0,
        code: e.code ?? 'invalid',
        path: e.path ?? 'request',
        detail: e.detail ?? 'invalid',
      });
    }
  }
  return out;
}

function describe(problem: AmoProblem, status: number): string {
  const fields = (problem['validation-errors'] ?? []).flatMap((g) =>
    (g.errors ?? []).map((e) => `${e.path ?? 'request'}: ${e.detail ?? e.code ?? 'invalid'}`),
  );
  if (fields.length) return [...new Set(fields)].join('; ');
  return problem.hint ?? problem.detail ?? problem.title ?? `HTTP ${status}`;
}

/**
 * Classifies a failed amoCRM request. 401: the token was refused (the core refreshes once and
 * then asks for the integration to be connected again); 402 and 403: the account is unpaid,
 * blocked or refuses the hub's address: also a state an admin must fix, never a retry storm;
 * 429 (and 503): throttled; 400: rejected, naming the field.
 */
export function toConnectorError(err: unknown, what: string, authField: string): Error {
  if (isConnectorError(err) || !isAxiosError(err) || !err.response) {
    return classifyHttpFailure(err, `amoCRM ${what}`, { authField });
  }
  const status = err.response.status;
  const detail = describe(asProblem(err.response.data), status);
  if (status === 402) {
    return ConnectorError.authInvalid(
      `amoCRM ${what}: the account is not paid (HTTP 402: ${detail})`,
      authField,
    );
  }
  if (status === 403) {
    return ConnectorError.authInvalid(
      `amoCRM ${what}: the account is blocked or refuses this address (HTTP 403: ${detail})`,
      authField,
    );
  }
  return classifyHttpFailure(err, `amoCRM ${what}`, { authField, detail: () => detail });
}
