import { BadRequestException, Injectable, OnModuleInit } from '@nestjs/common';
import { AnsweringNumbers } from '../calls/answering-numbers';
import { Clock } from '../common/clock';
import { SwrCache } from '../common/swr-cache';
import { validateDto } from '../common/validation';
import { toE164 } from '../contacts/phone';
import { TenantsService } from '../tenants/tenants.service';
import { AgentsRepository } from './agents.repository';
import { AgentDto, AgentView } from './agents.dto';
import { IntegrationsService } from './integrations.service';

@Injectable()
export class AgentsService implements OnModuleInit {
  private readonly mapCache: SwrCache<string, Map<string, string>>;
  /** tenantId → (mobile → extension). */
  private readonly mobileCache: SwrCache<string, Map<string, string>>;

  constructor(
    private readonly repo: AgentsRepository,
    private readonly integrations: IntegrationsService,
    private readonly tenants: TenantsService,
    private readonly answering: AnsweringNumbers,
    clock: Clock,
  ) {
    const timing = { freshMs: 2000, staleMs: 8000, now: () => clock.nowMs() };
    this.mapCache = new SwrCache((id) => this.repo.mapOf(id), timing);
    this.mobileCache = new SwrCache((id) => this.repo.mobilesOf(id), timing);
  }

  onModuleInit(): void {
    this.answering.register((tenantId, numbers) => this.agentsAnsweringAt(tenantId, numbers));
  }

  /** The agents whose mobile these numbers are (as a PBX wrote them): number → extension. */
  async agentsAnsweringAt(
    tenantId: string,
    numbers: readonly string[],
  ): Promise<Map<string, string>> {
    const mobiles = await this.mobileCache.get(tenantId);
    const out = new Map<string, string>();
    if (mobiles.size === 0) return out;
    const country = (await this.tenants.find(tenantId))?.defaultCountry ?? 'RU';
    for (const raw of numbers) {
      const e164 = toE164(raw, country);
      const extension = e164 ? mobiles.get(e164) : undefined;
      if (extension) out.set(raw, extension);
    }
    return out;
  }

  /** Replaces the tenant's whole agent map. */
  async replace(tenantId: string, body: unknown): Promise<AgentView[]> {
    if (!Array.isArray(body)) throw new BadRequestException('body must be an array of agents');
    if (body.length > 5000) throw new BadRequestException('body must hold at most 5000 agents');
    const agents = body.map((item, i) => validateDto(AgentDto, item, `${i}`));
    const known = new Set((await this.integrations.list(tenantId)).map((i) => i.id));
    const country = (await this.tenants.get(tenantId)).defaultCountry;
    const problems: string[] = [];
    const seen = new Set<string>();
    const mobiles = new Map<string, number>();
    const mobileOf: (string | null)[] = agents.map((a, i) => {
      if (a.mobile === undefined) return null;
      const e164 = toE164(a.mobile, country);
      if (!e164) {
        problems.push(
          `${i}.mobile must be a phone number (international, or national for ${country})`,
        );
        return null;
      }
      const other = mobiles.get(e164);
      if (other !== undefined) problems.push(`${i}.mobile ${e164} is also agent ${other}'s`);
      mobiles.set(e164, i);
      return e164;
    });
    agents.forEach((a, i) => {
      if (seen.has(a.extension)) problems.push(`${i}.extension ${a.extension} appears twice`);
      seen.add(a.extension);
      for (const [integrationId, userId] of Object.entries(a.crmUsers)) {
        if (!known.has(integrationId))
          problems.push(`${i}.crmUsers.${integrationId} is not an integration of this tenant`);
        const ok =
          (typeof userId === 'string' && /^[^\s]{1,64}$/.test(userId)) ||
          (typeof userId === 'number' && Number.isInteger(userId) && userId >= 0);
        if (!ok)
          problems.push(`${i}.crmUsers.${integrationId} must be a CRM user id (1-64 characters)`);
      }
    });
    if (problems.length) throw new BadRequestException(problems.join('; '));

    await this.repo.replace(
      tenantId,
      agents.map((a, i) => ({
        extension: a.extension,
        name: a.name ?? null,
        ...(mobileOf[i] ? { mobile: mobileOf[i]! } : {}),
        crmUsers: Object.fromEntries(
          Object.entries(a.crmUsers).map(([integrationId, userId]) => [
            integrationId,
            String(userId),
          ]),
        ),
      })),
    );
    this.mapCache.clear();
    this.mobileCache.clear();
    await this.integrations.agentsChanged(tenantId);
    return this.list(tenantId);
  }

  list(tenantId: string): Promise<AgentView[]> {
    return this.repo.list(tenantId);
  }

  /** extension → CRM user id for one integration, cached briefly for the hot paths. */
  async mapFor(integrationId: string): Promise<Map<string, string>> {
    return this.mapCache.get(integrationId);
  }

  /** The extension of a CRM user in the agent map, if mapped. */
  async extensionOf(integrationId: string, crmUserId: string): Promise<string | null> {
    for (const [extension, user] of await this.mapFor(integrationId))
      if (user === crmUserId) return extension;
    return null;
  }
}
