import { CallProcessor } from '../src/calls/call-processor.service';
import { sqlTime } from '../src/common/sql';
import { CrmDispatcher } from '../src/integrations/sync/crm-dispatcher.service';
import { InstallAction } from '../src/integrations/sync/install.action';
import { JobQueue } from '../src/queue/job-queue.service';
import { CRM_QUEUE } from '../src/queue/queue.constants';
import { RetentionService } from '../src/retention/retention.service';
import { TenantsService } from '../src/tenants/tenants.service';
import { RedisService } from '../src/common/redis.service';
import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  startTestApp,
  TestApp,
} from './support/test-app';
import { connectPluginCrm, PLUGIN_CONNECTOR } from './support/plugin-crm';

/** More rows than one deletion batch (1000), so the batches must loop. */
const BULK_CALLS = 1200;
const BULK_EVENTS = 2100;
/** The tables with a tenant_id that the seed fills (others may exist: they are checked after). */
const SEEDED_TABLES = [
  'agents',
  'audit_log',
  'backfills',
  'call_events',
  'calls',
  'client_codes',
  'integrations',
  'later_feature',
  'pbx_sources',
  'tenant_keys',
];

interface Seeded {
  tenant: CreatedTenant;
  integrationId: string;
  sourceId: string;
  pbxKey: string;
  callId: string;
  syncId: string;
}

describe('deleting a tenant with all its data', () => {
  let t: TestApp;
  let a: Seeded;
  let b: Seeded;
  let redis: RedisService;

  async function tenantTables(): Promise<string[]> {
    const rows = (await t.db.query(
      `SELECT TABLE_NAME AS name FROM information_schema.COLUMNS
        WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME = 'tenant_id' ORDER BY TABLE_NAME`,
    )) as { name: string }[];
    return rows.map((r) => r.name);
  }

  /** Rows of the tenant in every table with a tenant_id, and in the tables hanging off them. */
  async function rowsOf(tenantId: string, integrationId: string): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const table of await tenantTables()) {
      const [{ n }] = await t.db.query(
        `SELECT COUNT(*) AS n FROM \`${table}\` WHERE tenant_id = ?`,
        [tenantId],
      );
      out[table] = Number(n);
    }
    const [{ n: tenants }] = await t.db.query('SELECT COUNT(*) AS n FROM tenants WHERE id = ?', [
      tenantId,
    ]);
    out.tenants = Number(tenants);
    for (const table of ['call_sync', 'connector_call_state', 'agent_crm_users']) {
      const [{ n }] = await t.db.query(
        `SELECT COUNT(*) AS n FROM \`${table}\` WHERE integration_id = ?`,
        [integrationId],
      );
      out[table] = Number(n);
    }
    return out;
  }

  /** The tenant's Redis keys (the seeded ones and the request limiter's). */
  async function redisKeysOf(s: Seeded): Promise<string[]> {
    const keys = await redis.client.keys(`${t.config.redisPrefix}:*`);
    return keys.filter((k) => k.includes(s.tenant.id) || k.includes(s.integrationId)).sort();
  }

  const seededKeys = (s: Seeded) => [
    redis.key('contact', s.integrationId, '+74951234567'),
    redis.key('rl', s.integrationId, 'default'),
    redis.key('limit', 'tenant', s.tenant.id, '1'),
    redis.key('calls-stream', s.tenant.id),
  ];

  /** A tenant with a row in every table it can have, through the API where there is one. */
  async function seed(name: string): Promise<Seeded> {
    const tenant = await createTenant(t, { name });
    const asKey = { headers: { 'x-api-key': tenant.apiKey } };
    const integrationId = await connectPluginCrm(t, tenant.id, asKey.headers);
    const agents = await t.request('PUT', `/v1/tenants/${tenant.id}/agents`, {
      body: [{ extension: '101', name: 'Ivan', crmUsers: { [integrationId]: '27' } }],
      ...asKey,
    });
    expect(agents.status).toBe(200);
    const source = await t.request('POST', `/v1/tenants/${tenant.id}/pbx-sources`, {
      body: { type: 'zadarma', config: {}, credentials: { key: 'k1', secret: 'zd-secret' } },
      ...asKey,
    });
    expect(source.status).toBe(201);
    const key = await t.request('POST', `/v1/tenants/${tenant.id}/keys`, {
      body: { name: 'dialplan', scope: 'pbx' },
      ...asKey,
    });
    expect(key.status).toBe(201);
    const callId = `${name}-call-1`;
    const at = Date.now() - 60_000;
    const accepted = await postEvents(t, tenant, {
      events: [
        {
          id: `${callId}-s`,
          callId,
          type: 'call.ringing',
          direction: 'inbound',
          from: '84951234567',
          to: '+74957654321',
          extension: '101',
          at: new Date(at).toISOString(),
        },
        {
          id: `${callId}-e`,
          callId,
          type: 'call.ended',
          result: 'missed',
          duration: 0,
          at: new Date(at + 5000).toISOString(),
        },
      ],
    });
    expect(accepted.status).toBe(202);
    const [call] = await eventually(
      (): Promise<{ id: string }[]> =>
        t.db.query('SELECT id FROM calls WHERE tenant_id = ? AND call_id = ?', [tenant.id, callId]),
      (rows) => rows.length === 1,
    );
    // What the API has no door for: CRM action records and connector state of the call, a client
    // code, an audit record, a backfill; and many calls and events, more than one batch.
    const sync = await t.db.query(
      `INSERT INTO call_sync (call_pk, integration_id, action, status) VALUES (?, ?, 'log', 'done')`,
      [call.id, integrationId],
    );
    await t.db.query(
      `INSERT INTO connector_call_state (call_pk, integration_id, state_key, value) VALUES (?, ?, 'crmCallId', '"x"')`,
      [call.id, integrationId],
    );
    const now = sqlTime(new Date());
    await t.db.query(
      'INSERT INTO client_codes (tenant_id, number, code, created_at) VALUES (?, ?, ?, ?)',
      [tenant.id, '+74951234567', '482913', now],
    );
    await t.db.query(
      `INSERT INTO audit_log (tenant_id, at, action, extension, client_code, granted, reason)
       VALUES (?, ?, 'resolve', '101', '482913', 1, 'granted')`,
      [tenant.id, now],
    );
    await t.db.query(
      `INSERT INTO backfills (id, tenant_id, source_id, from_at, to_at, status, not_before, created_at, updated_at)
       VALUES (UUID(), ?, ?, ?, ?, 'done', ?, ?, ?)`,
      [tenant.id, source.body.id, now, now, now, now, now],
    );
    const calls = Array.from({ length: BULK_CALLS }, (_, i) => [
      tenant.id,
      `${name}-bulk-${i}`,
      'inbound',
      'ended',
      'missed',
      '[]',
      now,
      now,
    ]);
    await t.db.query(
      'INSERT INTO calls (tenant_id, call_id, direction, status, result, ringing, started_at, ended_at) VALUES ?',
      [calls],
    );
    const events = Array.from({ length: BULK_EVENTS }, (_, i) => [
      tenant.id,
      `${name}-bulk-ev-${i}`,
      `${name}-bulk-${i % BULK_CALLS}`,
      'call.ended',
      now,
      '{}',
      now,
      now,
    ]);
    await t.db.query(
      'INSERT INTO call_events (tenant_id, event_id, call_id, type, occurred_at, payload, received_at, processed_at) VALUES ?',
      [events],
    );
    await t.db.query('INSERT INTO later_feature (tenant_id, note) VALUES ?', [
      Array.from({ length: BULK_CALLS }, (_, i) => [tenant.id, `n${i}`]),
    ]);
    const seeded: Seeded = {
      tenant,
      integrationId,
      sourceId: source.body.id,
      pbxKey: key.body.key,
      callId,
      syncId: String(sync.insertId),
    };
    // Tenant-scoped Redis keys: a cached contact, a CRM rate-limit window, a request counter,
    // the mark of a watched call stream.
    for (const k of seededKeys(seeded)) await redis.client.set(k, '1', 'EX', 600);
    return seeded;
  }

  beforeAll(async () => {
    t = await startTestApp({ HUB_CONNECTOR_PLUGINS: PLUGIN_CONNECTOR });
    redis = t.app.get(RedisService);
    // A table a later feature adds, without a foreign key the tenant's row could cascade to:
    // only finding it in information_schema deletes its rows.
    await t.db.query(`CREATE TABLE later_feature (
      id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
      tenant_id CHAR(36) NOT NULL,
      note VARCHAR(20) NOT NULL,
      KEY ix_later_feature_tenant (tenant_id)
    ) ENGINE=InnoDB`);
    a = await seed('a');
    b = await seed('b');
  }, 60_000);
  afterAll(() => t.close());

  it("is the operator's alone: a tenant key gets 403, another key or none 401, an unknown id 404", async () => {
    const path = `/v1/tenants/${a.tenant.id}`;
    const own = await t.request('DELETE', path, { headers: { 'x-api-key': a.tenant.apiKey } });
    expect(own.status).toBe(403);
    expect(own.body.message).toContain('admin token');
    expect((await t.request('DELETE', path, { headers: { 'x-api-key': a.pbxKey } })).status).toBe(
      403,
    );
    expect(
      (await t.request('DELETE', path, { headers: { 'x-api-key': b.tenant.apiKey } })).status,
    ).toBe(401);
    expect((await t.request('DELETE', path, { admin: false })).status).toBe(401);
    expect(
      (
        await t.request('DELETE', path, {
          headers: { authorization: 'Bearer not-the-admin-token-at-all' },
        })
      ).status,
    ).toBe(401);
    expect(
      (await t.request('DELETE', '/v1/tenants/00000000-0000-4000-8000-000000000000')).status,
    ).toBe(404);
    expect((await t.request('DELETE', '/v1/tenants/not-a-uuid')).status).toBe(404);
    // Nothing happened to A.
    expect((await t.request('GET', path)).status).toBe(200);
  });

  it('leaves no row of the tenant in any table, nor its Redis keys, and nothing of another tenant changes', async () => {
    const tables = await tenantTables();
    // The information_schema query finds the tables (so an empty answer cannot pass).
    expect(tables).toEqual(expect.arrayContaining(SEEDED_TABLES));
    const beforeA = await rowsOf(a.tenant.id, a.integrationId);
    // Every table the seed fills holds something of A before, so "0 after" means deleted; a
    // table added later counts after the delete too, whatever it held.
    for (const table of [
      ...SEEDED_TABLES,
      'tenants',
      'call_sync',
      'connector_call_state',
      'agent_crm_users',
    ])
      expect({ table, n: beforeA[table] > 0 }).toEqual({ table, n: true });
    expect(beforeA.calls).toBe(BULK_CALLS + 1);
    const beforeB = await rowsOf(b.tenant.id, b.integrationId);
    expect(await redis.client.exists(...seededKeys(a))).toBe(4);

    const res = await t.request('DELETE', `/v1/tenants/${a.tenant.id}`);
    expect(res.status).toBe(204);
    expect(res.text).toBe('');

    const afterA = await rowsOf(a.tenant.id, a.integrationId);
    expect(afterA).toEqual(Object.fromEntries(Object.keys(beforeA).map((k) => [k, 0])));
    expect(await redisKeysOf(a)).toEqual([]);
    expect(await rowsOf(b.tenant.id, b.integrationId)).toEqual(beforeB);
    expect(await redis.client.exists(...seededKeys(b))).toBe(4);
    expect((await t.request('GET', `/v1/tenants/${b.tenant.id}/calls/${b.callId}`)).status).toBe(
      200,
    );
  });

  it("refuses the deleted tenant's API key, pbx key and signature (401), and the id is 404", async () => {
    const path = `/v1/tenants/${a.tenant.id}`;
    const withKey = await t.request('GET', path, { headers: { 'x-api-key': a.tenant.apiKey } });
    expect(withKey.status).toBe(401);
    expect(
      (
        await t.request('POST', `/v1/pbx/${a.tenant.id}/route`, {
          body: { callId: 'x', from: '84951234567' },
          headers: { 'x-api-key': a.pbxKey },
        })
      ).status,
    ).toBe(401);
    const signed = await postEvents(t, a.tenant, {
      id: 'after-1',
      callId: 'after',
      type: 'call.started',
      direction: 'inbound',
      from: '84951234567',
      at: new Date().toISOString(),
    });
    expect(signed.status).toBe(401);
    expect((await t.request('GET', path)).status).toBe(404);
    expect((await t.request('DELETE', path)).status).toBe(404);
    expect(
      (await t.request('GET', '/v1/tenants')).body.map((x: { id: string }) => x.id),
    ).not.toContain(a.tenant.id);
  });

  it('drops jobs still queued for the deleted tenant without retrying them', async () => {
    // Each handler, as a job that was queued before the delete reaches it: no error, no work.
    await expect(t.app.get(CrmDispatcher).run(a.syncId)).resolves.toBeUndefined();
    await expect(t.app.get(InstallAction).run(a.integrationId, 0)).resolves.toBeUndefined();
    await expect(
      t.app.get(CallProcessor).process([{ tenantId: a.tenant.id, callId: a.callId }]),
    ).resolves.toBe(0);
    // And through the queue: the job completes (and is removed); it does not fail or wait for
    // a retry (a failed job is kept, a retried one waits delayed).
    const queue = t.app.get(JobQueue);
    const crm = queue.rawQueues().find((q) => q.name === CRM_QUEUE)!;
    await queue.add(CRM_QUEUE, 'log', { syncId: a.syncId }, { jobId: 'job-of-deleted-tenant' });
    const job = await eventually(
      () => crm.getJob('job-of-deleted-tenant'),
      (j) => j === null,
    );
    expect(job).toBeNull();
  });

  it('is finished by the retention job when it was cut short', async () => {
    const c = await seed('c');
    // The deletion began (the tenant is gone for every lookup at once) and the instance died.
    expect(await t.app.get(TenantsService).beginDeletion(c.tenant.id)).toBe(true);
    expect(
      (
        await t.request('GET', `/v1/tenants/${c.tenant.id}`, {
          headers: { 'x-api-key': c.tenant.apiKey },
        })
      ).status,
    ).toBe(401);
    expect((await t.request('GET', `/v1/tenants/${c.tenant.id}`)).status).toBe(404);
    const retention = t.app.get(RetentionService);
    // A deletion that began a moment ago may still be running elsewhere: left alone.
    expect((await retention.purge())?.tenantDeletionsFinished).toBe(0);
    expect((await rowsOf(c.tenant.id, c.integrationId)).calls).toBe(BULK_CALLS + 1);

    await t.db.query('UPDATE tenants SET deleted_at = ? WHERE id = ?', [
      sqlTime(new Date(Date.now() - 20 * 60_000)),
      c.tenant.id,
    ]);
    expect((await retention.purge())?.tenantDeletionsFinished).toBe(1);
    const after = await rowsOf(c.tenant.id, c.integrationId);
    expect(Object.values(after).every((n) => n === 0)).toBe(true);
    expect(await redisKeysOf(c)).toEqual([]);
    expect((await rowsOf(b.tenant.id, b.integrationId)).calls).toBe(BULK_CALLS + 1);
  }, 60_000);
});
