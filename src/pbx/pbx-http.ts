import { Logger } from '@nestjs/common';
import axios, { AxiosInstance } from 'axios';
import type { OutboundPolicy } from '../common/outbound-policy';
import { OriginateRequest, PbxError } from './pbx-adapter';

/**
 * An HTTP client for a PBX's REST API. The API's URL is the tenant's to set, so every
 * connection passes the outbound policy; errors come back as replies (the APIs explain them
 * in their bodies), never as throws, except for the network.
 */
export function pbxHttpClient(
  outbound: OutboundPolicy,
  maxReplyBytes: number,
): { http: AxiosInstance; close(): void } {
  const agents = outbound.agents({ keepAlive: true, maxSockets: 16 });
  const http = axios.create({
    timeout: 5000,
    httpAgent: agents.http,
    httpsAgent: agents.https,
    proxy: false,
    maxRedirects: 0,
    maxContentLength: maxReplyBytes,
    validateStatus: () => true,
  });
  return {
    http,
    close: () => {
      agents.http.destroy();
      agents.https.destroy();
    },
  };
}

/**
 * Click-to-call through a PBX's REST API: the account must be set up (else not_configured),
 * and a failure the API calls final is `refused`, anything else `unreachable`.
 */
export async function placeCall<A>(
  logger: Logger,
  request: OriginateRequest,
  account: () => A,
  call: (account: A) => Promise<unknown>,
  retryable: (err: unknown) => boolean,
): Promise<void> {
  let resolved: A;
  try {
    resolved = account();
  } catch (err) {
    throw PbxError.notConfigured((err as Error).message);
  }
  try {
    await call(resolved);
  } catch (err) {
    const message = (err as Error).message;
    logger.warn(
      { tenantId: request.tenantId, requestId: request.requestId, err: message },
      'click-to-call request failed',
    );
    throw retryable(err) ? PbxError.unreachable(message) : PbxError.refused(message);
  }
}
