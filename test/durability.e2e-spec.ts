import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  startTestApp,
  TestApp,
} from './support/test-app';
import { TcpProxy } from './support/tcp-proxy';

const at = (s: number) => new Date(Date.UTC(2026, 10, 25, 11, 0, s)).toISOString();

describe('durability: storage and queue outages', () => {
  const redisProxy = new TcpProxy('127.0.0.1', 6379);
  const dbProxy = new TcpProxy('127.0.0.1', 3306);
  let t: TestApp;
  let tenant: CreatedTenant;

  beforeAll(async () => {
    await redisProxy.start();
    await dbProxy.start();
    t = await startTestApp({
      REDIS_URL: `redis://127.0.0.1:${redisProxy.port}`,
      DATABASE_URL: `mysql://root@127.0.0.1:${dbProxy.port}/hub_durability_${Date.now().toString(36)}`,
    });
    tenant = await createTenant(t);
  });
  afterAll(async () => {
    redisProxy.restore();
    dbProxy.restore();
    await t.close();
    await redisProxy.close();
    await dbProxy.close();
  });

  const unprocessed = async (): Promise<number> => {
    const [row] = await t.db.query(
      'SELECT COUNT(*) AS n FROM call_events WHERE tenant_id = ? AND processed_at IS NULL',
      [tenant.id],
    );
    return Number(row.n);
  };

  it('accepts events while Redis is down and processes them once it is back', async () => {
    redisProxy.cut();
    const events = Array.from({ length: 5 }, (_, i) => ({
      id: `rd-${i}`,
      callId: `rd-call-${i}`,
      type: 'call.ringing',
      direction: 'inbound',
      from: '+74951234567',
      extension: '101',
      at: at(i),
    }));
    const res = await postEvents(t, tenant, { events });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ accepted: 5, duplicates: 0 });
    expect(await unprocessed()).toBe(5);

    redisProxy.restore();
    const left = await eventually(unprocessed, (n) => n === 0, 20000);
    expect(left).toBe(0);
    const [row] = await t.db.query(
      'SELECT MAX(process_count) AS m, COUNT(*) AS n FROM call_events WHERE tenant_id = ?',
      [tenant.id],
    );
    expect(Number(row.m)).toBe(1);
    expect(Number(row.n)).toBe(5);
  }, 30000);

  it('answers 503, never 2xx, while the database is unreachable, then recovers', async () => {
    // Warm the tenant cache so the request reaches the insert.
    await postEvents(t, tenant, { id: 'db-warm', callId: 'db-0', type: 'call.started', at: at(0) });
    dbProxy.cut();
    const res = await postEvents(t, tenant, {
      id: 'db-1',
      callId: 'db-1',
      type: 'call.started',
      at: at(1),
    });
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ statusCode: 503 });
    dbProxy.restore();
    const retried = await eventually(
      () => postEvents(t, tenant, { id: 'db-1', callId: 'db-1', type: 'call.started', at: at(1) }),
      (r) => r.status === 202,
      15000,
    );
    expect(retried.status).toBe(202);
    expect(retried.body).toEqual({ accepted: 1, duplicates: 0 });
  }, 30000);
});
