import { BadRequestException, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { SwrCache } from '../common/swr-cache';
import { validateDto } from '../common/validation';
import { AgentDto, AgentView } from './agents.dto';
import { IntegrationsService } from './integrations.service';

@Injectable()
export class AgentsService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly integrations: IntegrationsService,
  ) {}

  /** Replaces the tenant's whole agent map in one transaction. */
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

    await this.db.transaction(async (tx) => {
      await tx.query('DELETE FROM agents WHERE tenant_id = ?', [tenantId]);
      for (const a of agents) {
        const res = (await tx.query(
          'INSERT INTO agents (tenant_id, extension, name) VALUES (?, ?, ?)',
          [tenantId, a.extension, a.name ?? null],
        )) as { insertId: number | string };
        for (const [integrationId, userId] of Object.entries(a.crmUsers)) {
          await tx.query(
            'INSERT INTO agent_crm_users (agent_id, integration_id, crm_user_id) VALUES (?, ?, ?)',
            [res.insertId, integrationId, String(userId)],
          );
        }
      }
    });
    this.mapCache.clear();
    await this.integrations.agentsChanged(tenantId);
    return this.list(tenantId);
  }

  async list(tenantId: string): Promise<AgentView[]> {
    const rows = (await this.db.query(
      `SELECT a.extension, a.name, u.integration_id, u.crm_user_id FROM agents a
       LEFT JOIN agent_crm_users u ON u.agent_id = a.id WHERE a.tenant_id = ? ORDER BY a.extension`,
      [tenantId],
    )) as {
      extension: string;
      name: string | null;
      integration_id: string | null;
      crm_user_id: string | null;
    }[];
    const out = new Map<string, AgentView>();
    for (const r of rows) {
      const agent = out.get(r.extension) ?? { extension: r.extension, name: r.name, crmUsers: {} };
      if (r.integration_id && r.crm_user_id) agent.crmUsers[r.integration_id] = r.crm_user_id;
      out.set(r.extension, agent);
    }
    return [...out.values()];
  }

  private readonly mapCache = new SwrCache<string, Map<string, string>>((id) => this.loadMap(id), {
    freshMs: 2000,
    staleMs: 8000,
  });

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

  private async loadMap(integrationId: string): Promise<Map<string, string>> {
    const rows = (await this.db.query(
      'SELECT a.extension, u.crm_user_id FROM agent_crm_users u JOIN agents a ON a.id = u.agent_id WHERE u.integration_id = ?',
      [integrationId],
    )) as { extension: string; crm_user_id: string }[];
    return new Map(rows.map((r) => [r.extension, r.crm_user_id]));
  }
}
