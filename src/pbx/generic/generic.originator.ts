import { Injectable, OnModuleDestroy } from '@nestjs/common';
import axios, { AxiosInstance } from 'axios';
import { Clock } from '../../common/clock';
import { OutboundPolicy } from '../../common/outbound-policy';
import { describeNetworkFailure, isAddressNotAllowed } from '../../connector-sdk';
import { signHubPayload } from '../../tenants/hub-signature';
import { TenantsService } from '../../tenants/tenants.service';
import { OriginateRequest, PbxError, PbxOriginator } from '../pbx-adapter';
import type { PbxSource } from '../pbx-source.entity';

const TIMEOUT_MS = 5000;
/** The hub reads nothing of the PBX's reply but its status. */
const MAX_REPLY_BYTES = 64 * 1024;

/** The hub POSTs {requestId, extension, to} to the source's originateUrl, signed like ingress. */
@Injectable()
export class GenericOriginator implements PbxOriginator, OnModuleDestroy {
  private readonly agents: ReturnType<OutboundPolicy['agents']>;
  private readonly http: AxiosInstance;

  constructor(
    private readonly tenants: TenantsService,
    private readonly clock: Clock,
    outbound: OutboundPolicy,
  ) {
    // originateUrl comes from the tenant: every connection passes the outbound policy.
    this.agents = outbound.agents({ keepAlive: false });
    this.http = axios.create({
      timeout: TIMEOUT_MS,
      maxRedirects: 0,
      maxContentLength: MAX_REPLY_BYTES,
      httpAgent: this.agents.http,
      httpsAgent: this.agents.https,
      proxy: false,
    });
  }

  onModuleDestroy(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  canOriginate(source: PbxSource): boolean {
    return typeof source.config.originateUrl === 'string' && source.config.originateUrl !== '';
  }

  async originate(
    source: PbxSource,
    _credentials: unknown,
    request: OriginateRequest,
  ): Promise<void> {
    const url = source.config.originateUrl as string | undefined;
    if (!url) throw PbxError.notConfigured('the generic PBX source has no originateUrl');
    const secret = await this.tenants.webhookSecret(source.tenantId);
    const body = JSON.stringify({
      requestId: request.requestId,
      extension: request.extension,
      to: request.to,
    });
    const timestamp = this.clock.nowS();
    try {
      await this.http.post(url, body, {
        headers: {
          'content-type': 'application/json',
          'x-hub-timestamp': String(timestamp),
          'x-hub-signature': signHubPayload(secret ?? '', timestamp, body),
        },
      });
    } catch (err) {
      if (isAddressNotAllowed(err)) {
        throw PbxError.refused('config.originateUrl: address not allowed');
      }
      const status = axios.isAxiosError(err) ? err.response?.status : undefined;
      if (status && status < 500)
        throw PbxError.refused(`the PBX refused the call (HTTP ${status})`);
      throw PbxError.unreachable(
        `the PBX did not take the call${status ? ` (HTTP ${status})` : `: ${describeNetworkFailure(err)}`}`,
      );
    }
  }
}
