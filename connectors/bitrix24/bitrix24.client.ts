import type { AxiosInstance } from 'axios';
import { ConnectorError } from '../../src/connector-sdk';
import { B24Error, fromB24, toConnectorError } from './bitrix24.errors';

/** Vendor shapes of the Bitrix24 REST subset the connector uses. */
export interface B24Entity {
  CRM_ENTITY_TYPE: 'CONTACT' | 'COMPANY' | 'LEAD' | string;
  CRM_ENTITY_ID: number | string;
  ASSIGNED_BY_ID?: number | string;
  NAME?: string;
  ASSIGNED_BY?: {
    ID?: number | string;
    TIMEMAN_STATUS?: string;
    USER_PHONE_INNER?: string | null;
    PERSONAL_MOBILE?: string | null;
  };
}

export interface B24User {
  ID: string | number;
  ACTIVE?: boolean;
  NAME?: string;
  LAST_NAME?: string;
  EMAIL?: string;
  UF_PHONE_INNER?: string | null;
  PERSONAL_MOBILE?: string | null;
}

export interface B24Registered {
  CALL_ID: string;
  CRM_CREATED_LEAD?: number | string | null;
  CRM_ENTITY_TYPE?: string;
  CRM_ENTITY_ID?: number | string;
}

export interface B24StatRecord {
  ID?: number | string;
  CALL_ID?: string;
  EXTERNAL_CALL_ID?: string;
}

export interface B24Line {
  NUMBER: string;
  NAME?: string;
}

export interface B24Binding {
  event: string;
  handler: string;
}

/** What a batch gave back: each command's result, or its error. */
export interface BatchReply {
  results: Record<string, unknown>;
  errors: Record<string, B24Error>;
}

/** Bitrix24 takes at most 50 commands in one batch. */
export const BATCH_LIMIT = 50;

type Value = string | number | boolean | null | undefined | Value[] | { [key: string]: Value };

/**
 * Parameters in PHP's form encoding, the one Bitrix24 reads everywhere (bodies and batch
 * commands): `USER_ID[0]=11&USER_ID[1]=24`, `FIELDS[PHONE][0][VALUE]=…`. Undefined and null
 * are left out; `$result[…]` references in batch commands stay unencoded.
 */
export function phpForm(params: Record<string, Value>): string {
  const out: string[] = [];
  const enc = (v: string) => (v.startsWith('$result[') ? v : encodeURIComponent(v));
  const walk = (key: string, value: Value): void => {
    if (value === undefined || value === null) return;
    if (Array.isArray(value)) value.forEach((v, i) => walk(`${key}[${i}]`, v));
    else if (typeof value === 'object') {
      for (const [k, v] of Object.entries(value)) walk(`${key}[${k}]`, v);
    } else {
      const text = typeof value === 'boolean' ? (value ? '1' : '0') : String(value);
      out.push(`${encodeURIComponent(key).replace(/%5B/g, '[').replace(/%5D/g, ']')}=${enc(text)}`);
    }
  };
  for (const [k, v] of Object.entries(params)) walk(k, v);
  return out.join('&');
}

function asObject(data: unknown): Record<string, unknown> {
  return data && typeof data === 'object' && !Array.isArray(data)
    ? (data as Record<string, unknown>)
    : {};
}

/**
 * A small client of the portal's REST API: one POST per method, form-encoded, the access
 * token added by the hub (`auth`). Errors come back classified.
 */
export class Bitrix24Client {
  constructor(
    private readonly api: () => Promise<AxiosInstance>,
    private readonly nowMs: () => number,
  ) {}

  async call<T>(method: string, params: Record<string, Value> = {}): Promise<T> {
    const http = await this.api();
    try {
      const res = await http.post(method, phpForm(params), {
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      });
      const body = asObject(res.data);
      if (!('result' in body)) throw ConnectorError.temporary(`Bitrix24 ${method}: no result`);
      return body.result as T;
    } catch (err) {
      throw toConnectorError(err, method, this.nowMs());
    }
  }

  /** Up to 50 commands in one request (one request against the rate limit). */
  async batch(cmd: Record<string, string>, halt = false): Promise<BatchReply> {
    const keys = Object.keys(cmd);
    if (keys.length === 0) return { results: {}, errors: {} };
    if (keys.length > BATCH_LIMIT) throw new Error(`a batch takes ${BATCH_LIMIT} commands`);
    const reply = asObject(await this.call<unknown>('batch', { halt: halt ? 1 : 0, cmd }));
    // PHP sends an empty map as [].
    return {
      results: asObject(reply.result),
      errors: asObject(reply.result_error) as Record<string, B24Error>,
    };
  }

  /** A batch sub-command's error as the connector's error. */
  subError(e: B24Error, what: string): ConnectorError {
    return fromB24(e, undefined, what, this.nowMs());
  }
}

/** One batch command: `method?params`. */
export function command(method: string, params: Record<string, Value>): string {
  const query = phpForm(params);
  return query ? `${method}?${query}` : method;
}
