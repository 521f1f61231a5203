import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { sqlTime, timeColumn } from '../common/sql';

/** A row of tenant_keys: a scoped API key of a tenant, kept as its SHA-256 only. */
export interface TenantKeyRow {
  id: string;
  tenant_id: string;
  name: string;
  scope: string;
  key_hash: string;
  created_at: Date | string;
  last_used_at: Date | string | null;
}

export interface TenantKeyRecord {
  id: string;
  tenantId: string;
  name: string;
  scope: string;
  keyHash: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

function record(r: TenantKeyRow): TenantKeyRecord {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    name: r.name,
    scope: r.scope,
    keyHash: r.key_hash,
    createdAt: timeColumn(r.created_at) as Date,
    lastUsedAt: timeColumn(r.last_used_at),
  };
}

/** The SQL of tenant_keys. */
@Injectable()
export class TenantKeysRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async insert(key: Omit<TenantKeyRecord, 'lastUsedAt'>): Promise<void> {
    await this.db.query(
      'INSERT INTO tenant_keys (id, tenant_id, name, scope, key_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)',
      [key.id, key.tenantId, key.name, key.scope, key.keyHash, sqlTime(key.createdAt)],
    );
  }

  async ofTenant(tenantId: string): Promise<TenantKeyRecord[]> {
    const rows = (await this.db.query(
      'SELECT id, tenant_id, name, scope, key_hash, created_at, last_used_at FROM tenant_keys WHERE tenant_id = ? ORDER BY created_at, id',
      [tenantId],
    )) as TenantKeyRow[];
    return rows.map(record);
  }

  async count(tenantId: string): Promise<number> {
    const [row] = (await this.db.query(
      'SELECT COUNT(*) AS n FROM tenant_keys WHERE tenant_id = ?',
      [tenantId],
    )) as { n: number | string }[];
    return Number(row.n);
  }

  /** True when the key existed and belonged to the tenant. */
  async delete(tenantId: string, id: string): Promise<boolean> {
    const res = (await this.db.query('DELETE FROM tenant_keys WHERE id = ? AND tenant_id = ?', [
      id,
      tenantId,
    ])) as { affectedRows?: number };
    return (res.affectedRows ?? 0) > 0;
  }

  async touch(id: string, at: Date): Promise<void> {
    await this.db.query('UPDATE tenant_keys SET last_used_at = ? WHERE id = ?', [sqlTime(at), id]);
  }
}
