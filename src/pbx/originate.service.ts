import {
  BadRequestException,
  ForbiddenException,
  HttpException,
  Injectable,
  Logger,
  OnModuleInit,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { CallOriginator, OriginateCommand, Originator } from '../calls/call-originator';
import { isExtension, toE164 } from '../contacts/phone';
import { AgentsService } from '../integrations/agents.service';
import { effectiveDialPolicy } from '../tenants/tenant.dto';
import type { Tenant } from '../tenants/tenant.entity';
import { TenantsService } from '../tenants/tenants.service';
import { dialPolicyProblem } from './dial-policy';
import { PbxError } from './pbx-adapter';
import { PrivacyService } from './privacy/privacy.service';
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
    private readonly agents: AgentsService,
    private readonly privacy: PrivacyService,
  ) {}

  onModuleInit(): void {
    this.calls.use(this);
  }

  async originate({
    tenantId,
    extension,
    to: rawTo,
    code,
  }: OriginateCommand): Promise<{ requestId: string }> {
    const tenant = await this.tenants.get(tenantId);
    const source = (await this.sources.ofTenant(tenantId)).find((s) =>
      this.adapters.get(s.type)?.originator?.canOriginate(s),
    );
    const originator = source ? this.adapters.get(source.type)?.originator : undefined;
    if (!source || !originator) {
      throw new BadRequestException(
        'the tenant has no PBX source that can place calls (a generic source needs config.originateUrl)',
      );
    }
    // By code: granted (and audited) only for an agent, through a source that records it.
    const number = code
      ? await this.privacy.numberForCall(tenantId, {
          extension,
          code,
          recorded: source.config.recordsAllCalls === true,
        })
      : rawTo;
    if (number === undefined) throw new BadRequestException('to is required');
    const to = await this.destination(tenant, number);
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

  /**
   * What the PBX is asked to dial: an internal extension as given (a short number, or an
   * extension of the agent map), or an outside number in E.164 that the tenant's dial policy
   * allows (403 naming the rule otherwise: toll fraud goes through click-to-call too).
   */
  private async destination(tenant: Tenant, rawTo: string): Promise<string> {
    const raw = rawTo.trim();
    if (isExtension(raw)) return raw;
    const e164 = toE164(raw, tenant.defaultCountry);
    if (!e164) {
      if ((await this.agents.list(tenant.id)).some((a) => a.extension === raw)) return raw;
      throw new BadRequestException(
        `to must be a phone number (international, or national for ${tenant.defaultCountry}) or an extension`,
      );
    }
    const problem = dialPolicyProblem(effectiveDialPolicy(tenant), e164);
    if (problem) {
      this.logger.warn({ tenantId: tenant.id, rule: problem }, 'originate refused by dial policy');
      throw new ForbiddenException(`to: ${problem}`);
    }
    return e164;
  }
}
