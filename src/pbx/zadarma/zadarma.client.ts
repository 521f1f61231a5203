import { Injectable, OnModuleDestroy } from '@nestjs/common';
import type { AxiosInstance } from 'axios';
import { OutboundPolicy } from '../../common/outbound-policy';
import {
  ADDRESS_NOT_ALLOWED,
  describeNetworkFailure,
  isAddressNotAllowed,
} from '../../connector-sdk';
import { pbxHttpClient } from '../pbx-http';
import type { PbxSource } from '../pbx-source.entity';
import { ApiParams, signApiRequest } from './zadarma-signature';

export const DEFAULT_API_URL = 'https://api.zadarma.com';
/** Zadarma's replies are small JSON documents. */
const MAX_REPLY_BYTES = 1024 * 1024;
/** 60 days, the longest Zadarma allows: the default 30 minutes breaks links stored in a CRM. */
export const RECORDING_LINK_LIFETIME_S = 5_184_000;

/** Where and as whom the hub talks to one Zadarma account. */
export interface ZadarmaAccount {
  apiUrl: string;
  key: string;
  secret: string;
}

export function accountOf(
  source: Pick<PbxSource, 'config'>,
  credentials: Record<string, unknown> | null,
): ZadarmaAccount {
  const key = credentials?.key;
  const secret = credentials?.secret;
  if (typeof key !== 'string' || typeof secret !== 'string') {
    throw new ZadarmaApiError('the Zadarma source has no API key and secret', null, false);
  }
  const apiUrl = typeof source.config.apiUrl === 'string' ? source.config.apiUrl : DEFAULT_API_URL;
  return { apiUrl, key, secret };
}

/** A failed API call; `retryable` when trying again later may succeed. */
export class ZadarmaApiError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly retryable: boolean,
    /** address_not_allowed when the outbound policy refused config.apiUrl. */
    readonly reason?: string,
  ) {
    super(message);
  }
}

interface ApiReply {
  status?: string;
  message?: string;
  [key: string]: unknown;
}

/** A call of the PBX statistics (spec §1.8). */
export interface ZadarmaStat {
  pbx_call_id: string;
  call_id?: string;
  sip?: string | number;
  callstart: string;
  clid?: string;
  destination?: string | number;
  disposition?: string;
  seconds?: number | string;
  is_recorded?: string | number | boolean;
}

const STATS_PAGE = 1000;
/** A month of a busy PBX, and no more: a period beyond it is split by the caller. */
const MAX_STATS = 50_000;

export interface CallbackResult {
  from: string;
  to: string;
  time: number | null;
}

/** The subset of Zadarma's REST API v1 the hub uses. Every request is signed. */
@Injectable()
export class ZadarmaClient implements OnModuleDestroy {
  private readonly http: AxiosInstance;
  private readonly close: () => void;

  constructor(outbound: OutboundPolicy) {
    // Zadarma answers errors with JSON bodies on 4xx; they are read instead of thrown blind.
    ({ http: this.http, close: this.close } = pbxHttpClient(outbound, MAX_REPLY_BYTES));
  }

  /** A long-lived download link of a call's recording (`call_id_with_rec`, else `pbx_call_id`). */
  async recordingLink(
    account: ZadarmaAccount,
    ref: { callId?: string; pbxCallId?: string },
    lifetime = RECORDING_LINK_LIFETIME_S,
  ): Promise<string> {
    const params = ref.callId ? { call_id: ref.callId } : { pbx_call_id: ref.pbxCallId };
    const reply = await this.get(account, '/v1/pbx/record/request/', { ...params, lifetime });
    const link = typeof reply.link === 'string' ? reply.link : firstString(reply.links);
    if (!link || link.length > 2048 || !/^https?:\/\//.test(link)) {
      throw new ZadarmaApiError('Zadarma answered without a recording link', null, true);
    }
    return link;
  }

  /** Click-to-call: rings `from` first, then dials `to`. Zadarma returns no call id. */
  async callback(
    account: ZadarmaAccount,
    from: string,
    to: string,
    sip?: string,
  ): Promise<CallbackResult> {
    const reply = await this.get(account, '/v1/request/callback/', { from, to, sip });
    return {
      from: String(reply.from ?? from),
      to: String(reply.to ?? to),
      time: typeof reply.time === 'number' ? reply.time : null,
    };
  }

  /**
   * The PBX's call statistics (`/v1/statistics/pbx/`, version 2) for a period of at most a
   * month, in the account's local time, page by page (Zadarma allows 3 such requests a minute:
   * a 429 is retryable).
   */
  async statistics(
    account: ZadarmaAccount,
    start: string,
    end: string,
    callType: 'in' | 'out',
  ): Promise<ZadarmaStat[]> {
    const out: ZadarmaStat[] = [];
    for (let skip = 0; ; skip += STATS_PAGE) {
      const reply = await this.get(account, '/v1/statistics/pbx/', {
        start,
        end,
        version: 2,
        call_type: callType,
        skip,
        limit: STATS_PAGE,
      });
      const page = Array.isArray(reply.stats) ? (reply.stats as unknown[]) : [];
      for (const s of page) {
        if (s && typeof s === 'object' && typeof (s as ZadarmaStat).pbx_call_id === 'string')
          out.push(s as ZadarmaStat);
      }
      if (page.length < STATS_PAGE || out.length >= MAX_STATS) return out;
    }
  }

  private async get(account: ZadarmaAccount, path: string, params: ApiParams): Promise<ApiReply> {
    // The SDKs sign with format=json included; the query is sent exactly as signed.
    const signed = signApiRequest(account.key, account.secret, path, { ...params, format: 'json' });
    const url = `${account.apiUrl.replace(/\/+$/, '')}${path}${signed.query ? `?${signed.query}` : ''}`;
    let status: number;
    let data: unknown;
    try {
      const res = await this.http.get<unknown>(url, {
        headers: { Authorization: signed.authorization, Accept: 'application/json' },
      });
      status = res.status;
      data = res.data;
    } catch (err) {
      if (isAddressNotAllowed(err)) {
        throw new ZadarmaApiError(
          'config.apiUrl: address not allowed',
          null,
          false,
          ADDRESS_NOT_ALLOWED,
        );
      }
      throw new ZadarmaApiError(
        `Zadarma API unreachable: ${describeNetworkFailure(err)}`,
        null,
        true,
      );
    }
    const reply: ApiReply = data && typeof data === 'object' ? (data as ApiReply) : {};
    if (status >= 200 && status < 300 && reply.status === 'success') return reply;
    const message = typeof reply.message === 'string' ? reply.message : `HTTP ${status}`;
    const retryable =
      status === 429 ||
      status >= 500 ||
      // Right after NOTIFY_RECORD the file is briefly not there yet.
      /not found/i.test(message);
    throw new ZadarmaApiError(`Zadarma API ${path}: ${message}`, status, retryable);
  }

  onModuleDestroy(): void {
    this.close();
  }
}

function firstString(value: unknown): string | undefined {
  if (!Array.isArray(value)) return undefined;
  const first: unknown = value[0];
  if (typeof first === 'string') return first;
  if (first && typeof first === 'object' && 'link' in first) {
    const link = (first as { link: unknown }).link;
    return typeof link === 'string' ? link : undefined;
  }
  return undefined;
}
