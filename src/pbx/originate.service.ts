import {
  BadRequestException,
  HttpException,
  Injectable,
  Logger,
  OnModuleInit,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { CallOriginator, OriginateCommand, Originator } from '../calls/call-originator';
import { toE164 } from '../contacts/phone';
import { TenantsService } from '../tenants/tenants.service';
import { PbxError } from './pbx-adapter';
import { PbxAdapters } from './pbx-adapters';
import { PbxSourcesService } from './pbx-sources.service';

/**
 * Click-to-call: asks the tenant's PBX to ring the agent, then the number. It registers
 * itself as the calls room's originator, so the calls API and CRM callbacks reach it.
 */
@Injectable()
export class OriginateService implements Originator, OnModuleInit {
  private readonly logger = new Logger('OriginateService');

  constructor(
    private readonly sources: PbxSourcesService,
    private readonly adapters: PbxAdapters,
    private readonly tenants: TenantsService,
    private readonly calls: CallOriginator,
  ) {}

  onModuleInit(): void {
    this.calls.use(this);
  }

  async originate({
    tenantId,
    extension,
    to: rawTo,
  }: OriginateCommand): Promise<{ requestId: string }> {
    const tenant = await this.tenants.get(tenantId);
    const to = toE164(rawTo, tenant.defaultCountry);
    if (!to)
      throw new BadRequestException(
        `to must be a phone number (international, or national for ${tenant.defaultCountry})`,
      );
    const source = (await this.sources.ofTenant(tenantId)).find((s) =>
      this.adapters.get(s.type)?.originator?.canOriginate(s),
    );
    const originator = source ? this.adapters.get(source.type)?.originator : undefined;
    if (!source || !originator) {
      throw new BadRequestException(
        'the tenant has no PBX source that can place calls (a generic source needs config.originateUrl)',
      );
    }
    const request = { requestId: randomUUID(), tenantId, extension, to };
    try {
      await originator.originate(source, this.sources.credentials(source), request);
    } catch (err) {
      this.logger.warn(
        { tenantId, sourceId: source.id, err: (err as Error).message },
        'originate failed',
      );
      const e = err instanceof PbxError ? err : PbxError.unreachable((err as Error).message);
      throw new HttpException(`click-to-call failed: ${e.message}`, e.httpStatus);
    }
    this.logger.log({ tenantId, requestId: request.requestId, extension }, 'originate requested');
    return { requestId: request.requestId };
  }
}
