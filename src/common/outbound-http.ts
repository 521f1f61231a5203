import { Injectable, OnModuleDestroy } from '@nestjs/common';
import axios, { RawAxiosResponseHeaders, AxiosResponseHeaders } from 'axios';
import { pipeline, Readable, Transform } from 'node:stream';
import { isAddressNotAllowed } from '../connector-sdk';
import { AddressNotAllowedError, hostPortOf, OutboundPolicy } from './outbound-policy';

export interface StreamLimits {
  /** Longest silence while connecting or waiting for the reply (axios' timeout). */
  idleTimeoutMs: number;
  /** Longest the whole exchange may take, the body included; the stream fails after it. */
  totalTimeoutMs: number;
  maxBytes: number;
  /** Redirects followed, each one checked by the policy again; more is an error. */
  maxRedirects: number;
  /** The field the URL came from, named when the policy refuses it. */
  field: string;
}

export interface OutboundStream {
  status: number;
  headers: RawAxiosResponseHeaders | AxiosResponseHeaders;
  /** Fails once it passes maxBytes or the total time; destroying it closes the connection. */
  body: Readable;
}

/** Something other than the policy went wrong (too large, too many redirects, not http). */
export class OutboundFetchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutboundFetchError';
  }
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/**
 * GETs from addresses tenants supplied (recording links), under the outbound policy: each
 * connection is checked after DNS, redirects are followed one by one (each new address
 * checked again), and the reply is bounded in size and time. No keep-alive: a pooled socket
 * would outlive the DNS answer it was checked against.
 */
@Injectable()
export class OutboundHttp implements OnModuleDestroy {
  private readonly agents: ReturnType<OutboundPolicy['agents']>;

  constructor(policy: OutboundPolicy) {
    this.agents = policy.agents({ keepAlive: false });
  }

  onModuleDestroy(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  async getStream(url: string, limits: StreamLimits): Promise<OutboundStream> {
    const deadline = Date.now() + limits.totalTimeoutMs;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), limits.totalTimeoutMs);
    let current = url;
    try {
      for (let hop = 0; ; hop++) {
        if (!hostPortOf(current))
          throw new OutboundFetchError(`${limits.field}: not an http(s) URL`);
        const res = await axios.get<Readable>(current, {
          responseType: 'stream',
          maxRedirects: 0,
          validateStatus: () => true,
          timeout: Math.max(1, Math.min(limits.idleTimeoutMs, deadline - Date.now())),
          httpAgent: this.agents.http,
          httpsAgent: this.agents.https,
          proxy: false,
          signal: controller.signal,
        });
        const location = res.headers.location as unknown;
        if (REDIRECTS.has(res.status) && typeof location === 'string') {
          res.data.destroy();
          if (hop >= limits.maxRedirects) {
            throw new OutboundFetchError(`${limits.field}: too many redirects`);
          }
          current = new URL(location, current).href;
          continue;
        }
        const length = Number(res.headers['content-length']);
        if (Number.isFinite(length) && length > limits.maxBytes) {
          res.data.destroy();
          throw new OutboundFetchError(`${limits.field}: reply too large`);
        }
        return {
          status: res.status,
          headers: res.headers,
          body: bounded(res.data, limits.maxBytes, deadline - Date.now(), () =>
            clearTimeout(timer),
          ),
        };
      }
    } catch (err) {
      clearTimeout(timer);
      if (err instanceof AddressNotAllowedError) throw err;
      if (isAddressNotAllowed(err)) {
        const refusal = (err as { cause?: unknown }).cause;
        throw new AddressNotAllowedError(
          refusal instanceof AddressNotAllowedError ? refusal.refusal : 'reserved',
          limits.field,
        );
      }
      throw err;
    }
  }
}

/** The body, cut off with an error past maxBytes or after `remainingMs`. */
function bounded(upstream: Readable, maxBytes: number, remainingMs: number, done: () => void) {
  let seen = 0;
  const out = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > maxBytes) return callback(new OutboundFetchError('reply too large'));
      callback(null, chunk);
    },
  });
  const timer = setTimeout(
    () => out.destroy(new OutboundFetchError('reply took too long')),
    Math.max(1, remainingMs),
  );
  pipeline(upstream, out, () => {
    clearTimeout(timer);
    done();
  });
  return out;
}
