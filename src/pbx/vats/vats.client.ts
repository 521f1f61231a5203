import { Injectable, OnModuleDestroy } from '@nestjs/common';
import type { AxiosInstance } from 'axios';
import { OutboundPolicy } from '../../common/outbound-policy';
import { describeNetworkFailure, isAddressNotAllowed } from '../../connector-sdk';
import { pbxHttpClient } from '../pbx-http';
import type { PbxSource } from '../pbx-source.entity';

const MAX_REPLY_BYTES = 8 * 1024 * 1024;

/** Where and as whom the hub talks to one VATS account's REST API ("crmapi/v1", spec §3.3). */
export interface VatsAccount {
  apiUrl: string;
  apiKey: string;
}

export function accountOf(
  source: Pick<PbxSource, 'config'>,
  credentials: Record<string, unknown> | null,
): VatsAccount {
  const apiKey = credentials?.apiKey;
  const apiUrl = source.config.apiUrl;
  if (typeof apiKey !== 'string' || typeof apiUrl !== 'string') {
    throw new VatsApiError('the VATS source has no apiUrl and API key', null, false);
  }
  return { apiUrl: apiUrl.replace(/\/+$/, ''), apiKey };
}

/** A failed API call; `retryable` when trying again later may succeed. */
export class VatsApiError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

/** An employee as `GET /users` lists them. */
export interface VatsApiUser {
  login: string;
  name?: string;
  ext?: string;
  telnum?: string;
  mobile?: string;
}

/** A call of `GET /history/json`. */
export interface VatsApiHistoryEntry {
  uid: string;
  type: string;
  status: string;
  client?: string;
  diversion?: string;
  destination?: string;
  user?: string;
  start: string;
  wait?: number | string;
  duration?: number | string;
  record?: string;
}

/** `yyyy-MM-ddTHH:mm:ssZ`, the REST API's dates. */
export function restTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** The REST API of a MegaFon-style virtual PBX: click-to-call, employees, call history. */
@Injectable()
export class VatsClient implements OnModuleDestroy {
  private readonly http: AxiosInstance;
  private readonly close: () => void;

  constructor(outbound: OutboundPolicy) {
    ({ http: this.http, close: this.close } = pbxHttpClient(outbound, MAX_REPLY_BYTES));
  }

  /** Rings the employee (login, extension or direct number) first, then the client. */
  async makeCall(account: VatsAccount, user: string, phone: string): Promise<string | null> {
    const reply = await this.request<{ callid?: unknown }>(account, 'POST', '/makecall', {
      data: { user, phone },
    });
    return typeof reply?.callid === 'string' ? reply.callid : null;
  }

  async users(account: VatsAccount): Promise<VatsApiUser[]> {
    const reply = await this.request<unknown>(account, 'GET', '/users');
    if (!Array.isArray(reply)) throw new VatsApiError('GET /users: not a list', null, true);
    return reply.filter(
      (u): u is VatsApiUser =>
        !!u && typeof u === 'object' && typeof (u as VatsApiUser).login === 'string',
    );
  }

  /** The PBX's calls that started in [from, to). */
  async history(account: VatsAccount, from: Date, to: Date): Promise<VatsApiHistoryEntry[]> {
    const reply = await this.request<unknown>(account, 'GET', '/history/json', {
      params: { start: restTime(from), end: restTime(to), type: 'all', limit: 10000 },
    });
    if (!Array.isArray(reply)) throw new VatsApiError('GET /history/json: not a list', null, true);
    return reply.filter(
      (e): e is VatsApiHistoryEntry =>
        !!e &&
        typeof e === 'object' &&
        typeof (e as VatsApiHistoryEntry).uid === 'string' &&
        typeof (e as VatsApiHistoryEntry).start === 'string',
    );
  }

  private async request<T>(
    account: VatsAccount,
    method: 'GET' | 'POST',
    path: string,
    options: { data?: unknown; params?: Record<string, unknown> } = {},
  ): Promise<T> {
    let status: number;
    let data: unknown;
    try {
      const res = await this.http.request<unknown>({
        method,
        url: `${account.apiUrl}${path}`,
        headers: { 'X-API-KEY': account.apiKey, Accept: 'application/json' },
        ...options,
      });
      status = res.status;
      data = res.data;
    } catch (err) {
      if (isAddressNotAllowed(err)) {
        throw new VatsApiError('config.apiUrl: address not allowed', null, false);
      }
      throw new VatsApiError(`VATS API unreachable: ${describeNetworkFailure(err)}`, null, true);
    }
    if (status >= 200 && status < 300) return data as T;
    const said =
      data && typeof data === 'object' && typeof (data as { error?: unknown }).error === 'string'
        ? (data as { error: string }).error
        : `HTTP ${status}`;
    throw new VatsApiError(
      `VATS API ${method} ${path}: ${said}`,
      status,
      status === 429 || status >= 500,
    );
  }

  onModuleDestroy(): void {
    this.close();
  }
}
