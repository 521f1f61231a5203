import {
  BadRequestException,
  Inject,
  Injectable,
  Logger,
  ServiceUnavailableException,
} from '@nestjs/common';
import axios from 'axios';
import { randomUUID } from 'node:crypto';
import { toE164 } from '../contacts/phone';
import { signHubPayload } from '../tenants/hub-signature';
import { TenantsService } from '../tenants/tenants.service';
import type { PbxSource } from './pbx-source.entity';
import { PbxSourcesService } from './pbx-sources.service';
import {
  OriginateError,
  OriginateRequest,
  PBX_ORIGINATORS,
  PbxOriginator,
} from './originate.types';

/** A `generic` source: the hub POSTs {requestId, extension, to} to its originateUrl, signed like ingress. */
@Injectable()
export class GenericOriginator implements PbxOriginator {
  readonly type = 'generic' as const;

  constructor(private readonly tenants: TenantsService) {}

  async originate(
    source: PbxSource,
    _credentials: unknown,
    request: OriginateRequest,
  ): Promise<void> {
    const url = source.config.originateUrl as string | undefined;
    if (!url) throw new OriginateError('the generic PBX source has no originateUrl', false);
    const secret = await this.tenants.webhookSecret(source.tenantId);
    const body = JSON.stringify({
      requestId: request.requestId,
      extension: request.extension,
      to: request.to,
    });
    const timestamp = Math.floor(Date.now() / 1000);
    try {
      await axios.post(url, body, {
        timeout: 5000,
        maxRedirects: 0,
        headers: {
          'content-type': 'application/json',
          'x-hub-timestamp': String(timestamp),
          'x-hub-signature': signHubPayload(secret ?? '', timestamp, body),
        },
      });
    } catch (err) {
      const status = axios.isAxiosError(err) ? err.response?.status : undefined;
      throw new OriginateError(
        `the PBX refused the call${status ? ` (HTTP ${status})` : `: ${(err as Error).message}`}`,
        !status || status >= 500,
      );
    }
  }
}

/** Click-to-call: asks the tenant's PBX to ring the agent, then the number. */
@Injectable()
export class OriginateService {
  private readonly logger = new Logger('OriginateService');

  constructor(
    private readonly sources: PbxSourcesService,
    private readonly tenants: TenantsService,
    @Inject(PBX_ORIGINATORS) private readonly originators: PbxOriginator[],
  ) {}

  async originate(
    tenantId: string,
    extension: string,
    rawTo: string,
  ): Promise<{ requestId: string }> {
    const tenant = await this.tenants.get(tenantId);
    const to = toE164(rawTo, tenant.defaultCountry);
    if (!to)
      throw new BadRequestException(
        `to must be a phone number (international, or national for ${tenant.defaultCountry})`,
      );
    const candidates = (await this.sources.list(tenantId)).filter((s) =>
      this.originators.some(
        (o) => o.type === s.type && (s.type !== 'generic' || s.config.originateUrl),
      ),
    );
    if (candidates.length === 0) {
      throw new BadRequestException(
        'the tenant has no PBX source that can place calls (a generic source needs config.originateUrl)',
      );
    }
    const source = await this.sources.get(tenantId, candidates[0].id);
    const originator = this.originators.find((o) => o.type === source.type)!;
    const request = { requestId: randomUUID(), tenantId, extension, to };
    try {
      await originator.originate(source, this.sources.credentials(source), request);
    } catch (err) {
      this.logger.warn(
        { tenantId, sourceId: source.id, err: (err as Error).message },
        'originate failed',
      );
      throw new ServiceUnavailableException(`click-to-call failed: ${(err as Error).message}`);
    }
    this.logger.log({ tenantId, requestId: request.requestId, extension }, 'originate requested');
    return { requestId: request.requestId };
  }
}
