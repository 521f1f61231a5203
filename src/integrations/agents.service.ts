import { BadRequestException, Injectable } from '@nestjs/common';
import { Clock } from '../common/clock';
import { SwrCache } from '../common/swr-cache';
import { validateDto } from '../common/validation';
import { AgentsRepository } from './agents.repository';
import { AgentDto, AgentView } from './agents.dto';
import { IntegrationsService } from './integrations.service';

@Injectable()
export class AgentsService {
  private readonly mapCache: SwrCache<string, Map<string, string>>;

  constructor(
    private readonly repo: AgentsRepository,
    private readonly integrations: IntegrationsService,
    clock: Clock,
  ) {
    this.mapCache = new SwrCache((id) => this.repo.mapOf(id), {
      freshMs: 2000,
      staleMs: 8000,
      now: () => clock.nowMs(),
    });
  }

  /** Replaces the tenant's whole agent map. */
  async replace(tenantId: string, body: unknown): Promise<AgentView[]> {
    if (!Array.isArray(body)) throw new BadRequestException('body must be an array of agents');
    if (body.length > 5000) throw new BadRequestException('body must hold at most 5000 agents');
    const agents = body.map((item, i) => validateDto(AgentDto, item, `${i}`));
    const known = new Set((await this.integrations.list(tenantId)).map((i) => i.id));
    const problems: string[] = [];
    const seen = new Set<string>();
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
      agents.map((a) => ({
        extension: a.extension,
        name: a.name ?? null,
        crmUsers: Object.fromEntries(
          Object.entries(a.crmUsers).map(([integrationId, userId]) => [
            integrationId,
            String(userId),
          ]),
        ),
      })),
    );
    this.mapCache.clear();
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
