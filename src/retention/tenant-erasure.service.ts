import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { RedisService } from '../common/redis.service';
import { TenantsService } from '../tenants/tenants.service';
import { RetentionRepository } from './retention.repository';
import { retryingDeadlocks } from './retrying';

/** Rows per statement (and calls per transaction). */
const BATCH = 1000;

/**
 * The tenant's tables in the order they are emptied, after its calls: first what would let
 * its work go on (PBX sources hold AMI connections and take webhooks; keys authenticate),
 * then the data, then what the data referred to. Every other table with a tenant_id column
 * (one added later) is emptied after these, found in information_schema.
 */
const FIRST = ['pbx_sources', 'tenant_keys'];
const THEN = ['call_events', 'audit_log', 'client_codes', 'backfills', 'agents', 'integrations'];

/**
 * Redis keys of a tenant, by the room that writes them: all are caches, counters, marks or
 * locks with a TTL, so a key this misses is gone within minutes anyway. A key matches when it
 * is one of these or starts with one of them and ":".
 */
function redisKeysOf(redis: RedisService, tenantId: string, integrationIds: string[]): string[] {
  return [
    redis.key('limit', 'tenant', tenantId), // tenants/request-limiter.service.ts
    redis.key('calls-stream', tenantId), // calls/call-stream.ts (someone watches its calls)
    redis.key('privacy', 'resolve', tenantId), // pbx/privacy/privacy.service.ts
    ...integrationIds.flatMap((id) => [
      redis.key('contact', id), // contacts/contact-resolver.service.ts
      redis.key('rl', id), // integrations/runtime/rate-limiter.service.ts
      redis.key('oauth', id), // integrations/runtime/token-vault.ts
      redis.key('connector', id), // integrations/runtime/connector-runtime.service.ts
    ]),
  ];
}

/**
 * Deletes a tenant with all its data. The tenant is marked first, so from that moment it is
 * gone for every lookup; its rows then go in batches, table by table, and its row last (by
 * cascade, whatever was written meanwhile goes with it). A deletion cut short is finished
 * by the retention job. Jobs still queued for the tenant find nothing and are dropped.
 */
@Injectable()
export class TenantErasure {
  private readonly logger = new Logger('TenantErasure');

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly repo: RetentionRepository,
    private readonly tenants: TenantsService,
    private readonly redis: RedisService,
  ) {}

  /** The rows removed per table, or null when there is no such tenant. */
  async erase(tenantId: string): Promise<Record<string, number> | null> {
    if (!(await this.tenants.beginDeletion(tenantId))) return null;
    this.logger.log({ tenantId }, 'tenant deletion begun');
    const integrationIds = await this.repo.integrationIds(tenantId);
    await this.repo.disableIntegrations(tenantId);
    const removed: Record<string, number> = {};
    for (const table of FIRST) removed[table] = await this.drain(table, tenantId);

    const perCall = { calls: 0, call_events: 0, call_sync: 0, connector_call_state: 0 };
    for (;;) {
      const calls = await this.repo.tenantCalls(this.db.manager, tenantId, BATCH);
      if (calls.length === 0) break;
      const counts = await retryingDeadlocks(() =>
        this.db.transaction((tx) => this.repo.deleteCalls(tx, calls)),
      );
      for (const k of Object.keys(perCall) as (keyof typeof perCall)[]) perCall[k] += counts[k];
    }
    Object.assign(removed, perCall);

    const known = new Set([...FIRST, ...THEN, 'calls']);
    const others = (await this.repo.tablesWithTenantId()).filter((t) => !known.has(t));
    for (const table of [...THEN, ...others]) {
      removed[table] = (removed[table] ?? 0) + (await this.drain(table, tenantId));
    }
    await this.tenants.removeDeleted(tenantId);
    removed.redis_keys = await this.forgetRedisKeys(tenantId, integrationIds);
    this.logger.log({ tenantId, removed }, 'tenant deleted with all its data');
    return removed;
  }

  private async drain(table: string, tenantId: string): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await retryingDeadlocks(() => this.repo.deleteTenantRows(table, tenantId, BATCH));
      total += n;
      if (n < BATCH) return total;
    }
  }

  /** One SCAN over the hub's keys; a Redis outage leaves the keys to their TTLs. */
  private async forgetRedisKeys(tenantId: string, integrationIds: string[]): Promise<number> {
    const names = new Set(redisKeysOf(this.redis, tenantId, integrationIds));
    const prefixes = [...names].map((k) => `${k}:`);
    let deleted = 0;
    try {
      let cursor = '0';
      do {
        const [next, keys] = await this.redis.client.scan(
          cursor,
          'MATCH',
          `${this.redis.prefix}:*`,
          'COUNT',
          1000,
        );
        cursor = next;
        const mine = keys.filter((k) => names.has(k) || prefixes.some((p) => k.startsWith(p)));
        if (mine.length) deleted += await this.redis.client.del(...mine);
      } while (cursor !== '0');
    } catch (err) {
      this.logger.warn(
        { tenantId, err: (err as Error).message },
        "could not delete the tenant's Redis keys; they expire by themselves within minutes",
      );
    }
    return deleted;
  }
}
