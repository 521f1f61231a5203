import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { placeholders, Sql, sqlTime } from '../common/sql';

/** What a purge removes, as the counter's `kind` label: the table the rows were in. */
export const PURGE_KINDS = [
  'calls',
  'call_events',
  'call_sync',
  'connector_call_state',
  'audit_log',
] as const;
export type PurgeKind = (typeof PURGE_KINDS)[number];
export type PurgeCounts = Record<PurgeKind, number>;

export const noCounts = (): PurgeCounts =>
  Object.fromEntries(PURGE_KINDS.map((k) => [k, 0])) as PurgeCounts;

/** A call as the deletions need it: its row id and its (tenant, PBX call id) key. */
export interface CallKey {
  id: string;
  tenant_id: string;
  call_id: string;
}

const OPEN_STATUSES = ['started', 'ringing', 'answered'];
const TABLE_NAME = /^[A-Za-z0-9_]{1,64}$/;

function affected(result: unknown): number {
  return Number((result as { affectedRows?: number }).affectedRows ?? 0);
}

/**
 * The SQL that removes data: calls past the retention period with everything hanging off
 * them, old audit records, and every row of a tenant being deleted. Each statement touches
 * at most `limit` rows, so no transaction grows with the size of a tenant.
 */
@Injectable()
export class RetentionRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /**
   * Up to `limit` calls past the period: ended before `endedBefore`, or never ended and
   * started before `openStartedBefore`. Both ranges run on ix_calls_open (status, started_at):
   * a call ends after it starts, so one that ended before the cutoff started before it too.
   */
  async expiredCalls(
    sql: Sql,
    endedBefore: Date,
    openStartedBefore: Date,
    limit: number,
  ): Promise<CallKey[]> {
    const ended = (await sql.query(
      `SELECT id, tenant_id, call_id FROM calls
        WHERE status = 'ended' AND started_at < ? AND COALESCE(ended_at, started_at) < ?
        ORDER BY started_at LIMIT ?`,
      [sqlTime(endedBefore), sqlTime(endedBefore), limit],
    )) as CallKey[];
    if (ended.length >= limit) return ended;
    const open = (await sql.query(
      `SELECT id, tenant_id, call_id FROM calls
        WHERE status IN (${placeholders(OPEN_STATUSES.length)}) AND started_at < ?
        ORDER BY started_at LIMIT ?`,
      [...OPEN_STATUSES, sqlTime(openStartedBefore), limit - ended.length],
    )) as CallKey[];
    return [...ended, ...open];
  }

  /** Up to `limit` calls of a tenant. */
  async tenantCalls(sql: Sql, tenantId: string, limit: number): Promise<CallKey[]> {
    return (await sql.query(
      'SELECT id, tenant_id, call_id FROM calls WHERE tenant_id = ? ORDER BY id LIMIT ?',
      [tenantId, limit],
    )) as CallKey[];
  }

  /**
   * Deletes the calls with their events, CRM action records and connector state. Run it in
   * a transaction: a call is gone with all of it, or not at all.
   */
  async deleteCalls(tx: Sql, calls: CallKey[]): Promise<Omit<PurgeCounts, 'audit_log'>> {
    const pks = calls.map((c) => c.id);
    const counts = { calls: 0, call_events: 0, call_sync: 0, connector_call_state: 0 };
    if (pks.length === 0) return counts;
    counts.call_sync = affected(
      await tx.query('DELETE FROM call_sync WHERE call_pk IN (?)', [pks]),
    );
    counts.connector_call_state = affected(
      await tx.query('DELETE FROM connector_call_state WHERE call_pk IN (?)', [pks]),
    );
    const byTenant = new Map<string, string[]>();
    for (const c of calls)
      byTenant.set(c.tenant_id, [...(byTenant.get(c.tenant_id) ?? []), c.call_id]);
    for (const [tenantId, callIds] of byTenant) {
      counts.call_events += affected(
        await tx.query('DELETE FROM call_events WHERE tenant_id = ? AND call_id IN (?)', [
          tenantId,
          callIds,
        ]),
      );
    }
    counts.calls = affected(await tx.query('DELETE FROM calls WHERE id IN (?)', [pks]));
    return counts;
  }

  /**
   * Events never applied to a call that are older than `before`: set aside after failing,
   * or never processed. (Applied events go with their call.)
   */
  async deleteStaleUnprocessedEvents(sql: Sql, before: Date, limit: number): Promise<number> {
    const failed = affected(
      await sql.query(
        `DELETE FROM call_events
          WHERE processed_at IS NULL AND failed_at IS NOT NULL AND failed_at < ? LIMIT ?`,
        [sqlTime(before), limit],
      ),
    );
    const never = affected(
      await sql.query(
        `DELETE FROM call_events
          WHERE processed_at IS NULL AND failed_at IS NULL AND received_at < ? LIMIT ?`,
        [sqlTime(before), limit],
      ),
    );
    return failed + never;
  }

  /** The tenants that have audit records (a loose scan of ix_audit_at). */
  async auditTenants(sql: Sql): Promise<string[]> {
    const rows = (await sql.query('SELECT DISTINCT tenant_id FROM audit_log')) as {
      tenant_id: string;
    }[];
    return rows.map((r) => r.tenant_id);
  }

  /** Up to `limit` of the tenant's audit records older than `before` (on ix_audit_at). */
  async deleteOldAudit(sql: Sql, tenantId: string, before: Date, limit: number): Promise<number> {
    return affected(
      await sql.query('DELETE FROM audit_log WHERE tenant_id = ? AND at < ? LIMIT ?', [
        tenantId,
        sqlTime(before),
        limit,
      ]),
    );
  }

  /** Every table of the schema with a tenant_id column, so none is forgotten. */
  async tablesWithTenantId(): Promise<string[]> {
    const rows = (await this.db.query(
      `SELECT TABLE_NAME AS name FROM information_schema.COLUMNS
        WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME = 'tenant_id'
        ORDER BY TABLE_NAME`,
    )) as { name: string }[];
    return rows.map((r) => r.name).filter((name) => TABLE_NAME.test(name));
  }

  /** Deletes up to `limit` rows of the tenant from `table` (a name from tablesWithTenantId). */
  async deleteTenantRows(table: string, tenantId: string, limit: number): Promise<number> {
    if (!TABLE_NAME.test(table)) throw new Error(`not a table name: ${table}`);
    return affected(
      await this.db.query(`DELETE FROM \`${table}\` WHERE tenant_id = ? LIMIT ?`, [
        tenantId,
        limit,
      ]),
    );
  }

  async integrationIds(tenantId: string): Promise<string[]> {
    const rows = (await this.db.query('SELECT id FROM integrations WHERE tenant_id = ?', [
      tenantId,
    ])) as { id: string }[];
    return rows.map((r) => r.id);
  }

  /** Stops the tenant's CRM work at once: pending actions of a disabled integration are skipped. */
  async disableIntegrations(tenantId: string): Promise<void> {
    await this.db.query('UPDATE integrations SET enabled = 0 WHERE tenant_id = ?', [tenantId]);
  }
}
