import { Injectable } from '@nestjs/common';
import axios from 'axios';
import { Clock } from '../../common/clock';
import { signHubPayload } from '../../tenants/hub-signature';
import { TenantsService } from '../../tenants/tenants.service';
import { OriginateRequest, PbxError, PbxOriginator } from '../pbx-adapter';
import type { PbxSource } from '../pbx-source.entity';

const TIMEOUT_MS = 5000;

/** The hub POSTs {requestId, extension, to} to the source's originateUrl, signed like ingress. */
@Injectable()
export class GenericOriginator implements PbxOriginator {
  constructor(
    private readonly tenants: TenantsService,
    private readonly clock: Clock,
  ) {}

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
      await axios.post(url, body, {
        timeout: TIMEOUT_MS,
        maxRedirects: 0,
        headers: {
          'content-type': 'application/json',
          'x-hub-timestamp': String(timestamp),
          'x-hub-signature': signHubPayload(secret ?? '', timestamp, body),
        },
      });
    } catch (err) {
      const status = axios.isAxiosError(err) ? err.response?.status : undefined;
      if (status && status < 500)
        throw PbxError.refused(`the PBX refused the call (HTTP ${status})`);
      throw PbxError.unreachable(
        `the PBX did not take the call${status ? ` (HTTP ${status})` : `: ${(err as Error).message}`}`,
      );
    }
  }
}
