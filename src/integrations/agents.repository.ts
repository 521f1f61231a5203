import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

/** A row of agents: an extension of a tenant's PBX and who uses it. */
export interface AgentRow {
  id: string;
  tenant_id: string;
  extension: string;
  name: string | null;
  mobile: string | null;
}

/** A row of agent_crm_users: the agent's user in one integration's CRM. */
export interface AgentCrmUserRow {
  agent_id: string;
  integration_id: string;
  crm_user_id: string;
}

export interface AgentRecord {
  extension: string;
  name: string | null;
  /** The number calls are forwarded to, E.164; absent when none. */
  mobile?: string;
  /** integrationId → CRM user id. */
  crmUsers: Record<string, string>;
}

/** The SQL of agents and agent_crm_users (one table pair: an agent and its CRM users). */
@Injectable()
export class AgentsRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /** Replaces the tenant's whole agent map in one transaction. */
  async replace(tenantId: string, agents: AgentRecord[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query('DELETE FROM agents WHERE tenant_id = ?', [tenantId]);
      for (const a of agents) {
        const res = (await tx.query(
          'INSERT INTO agents (tenant_id, extension, name, mobile) VALUES (?, ?, ?, ?)',
          [tenantId, a.extension, a.name, a.mobile ?? null],
        )) as { insertId: number | string };
        for (const [integrationId, userId] of Object.entries(a.crmUsers)) {
          await tx.query(
            'INSERT INTO agent_crm_users (agent_id, integration_id, crm_user_id) VALUES (?, ?, ?)',
            [res.insertId, integrationId, userId],
          );
        }
      }
    });
  }

  async list(tenantId: string): Promise<AgentRecord[]> {
    const rows = (await this.db.query(
      `SELECT a.extension, a.name, a.mobile, u.integration_id, u.crm_user_id FROM agents a
       LEFT JOIN agent_crm_users u ON u.agent_id = a.id WHERE a.tenant_id = ? ORDER BY a.extension`,
      [tenantId],
    )) as (Pick<AgentRow, 'extension' | 'name' | 'mobile'> &
      Partial<Pick<AgentCrmUserRow, 'integration_id' | 'crm_user_id'>>)[];
    const out = new Map<string, AgentRecord>();
    for (const r of rows) {
      const agent: AgentRecord = out.get(r.extension) ?? {
        extension: r.extension,
        name: r.name,
        ...(r.mobile ? { mobile: r.mobile } : {}),
        crmUsers: {},
      };
      if (r.integration_id && r.crm_user_id) agent.crmUsers[r.integration_id] = r.crm_user_id;
      out.set(r.extension, agent);
    }
    return [...out.values()];
  }

  /** extension → CRM user id for one integration. */
  async mapOf(integrationId: string): Promise<Map<string, string>> {
    const rows = (await this.db.query(
      'SELECT a.extension, u.crm_user_id FROM agent_crm_users u JOIN agents a ON a.id = u.agent_id WHERE u.integration_id = ?',
      [integrationId],
    )) as (Pick<AgentRow, 'extension'> & Pick<AgentCrmUserRow, 'crm_user_id'>)[];
    return new Map(rows.map((r) => [r.extension, r.crm_user_id]));
  }

  /** mobile (E.164) → extension, for the tenant's agents that have one. */
  async mobilesOf(tenantId: string): Promise<Map<string, string>> {
    const rows = (await this.db.query(
      'SELECT mobile, extension FROM agents WHERE tenant_id = ? AND mobile IS NOT NULL',
      [tenantId],
    )) as { mobile: string; extension: string }[];
    return new Map(rows.map((r) => [r.mobile, r.extension]));
  }
}
