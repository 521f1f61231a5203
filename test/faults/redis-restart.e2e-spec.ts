import { Connection, createConnection } from 'mysql2/promise';
import {
  describeAttempts,
  EventLoad,
  expectAnsweredProcessedOnce,
  sleep,
  storedEvents,
} from '../support/fault-load';
import { TcpProxy } from '../support/tcp-proxy';
import { CreatedTenant, createTenant, startTestApp, TestApp } from '../support/test-app';

/**
 * Redis goes away under ingest load and comes back. The machine's Redis is shared with other
 * test files running in parallel, so the outage is a TcpProxy cut in front of it, not a restart.
 * Events answered 2xx while the queue was unreachable are only in the database: the sweeper
 * must re-queue them once Redis is back, and each must be processed exactly once.
 */
describe('faults: Redis outage under ingest load', () => {
  const redisProxy = new TcpProxy('127.0.0.1', 6379);
  let t: TestApp | undefined;
  let db: Connection | undefined;
  let load: EventLoad | undefined;
  let tenant: CreatedTenant;

  beforeAll(async () => {
    await redisProxy.start();
    t = await startTestApp({
      REDIS_URL: `redis://127.0.0.1:${redisProxy.port}`,
      HUB_SWEEP_AFTER_S: '2',
      HUB_SWEEP_INTERVAL_S: '1',
    });
    tenant = await createTenant(t, { name: 'Redis outage' });
    db = await createConnection({ uri: t.config.databaseUrl });
  }, 60000);
  afterAll(async () => {
    await load?.stop(0);
    redisProxy.restore();
    await db?.end();
    // close() also drops the database and the Redis keys of this file.
    await t?.close();
    await redisProxy.close();
  }, 60000);

  it('loses nothing answered 2xx while Redis is cut, and processes it all after recovery', async () => {
    const app = t!;
    load = new EventLoad({ baseUrl: () => app.url, tenant, senders: 6, prefix: 'rd' });
    load.start();
    await sleep(2500);
    const cutAt = Date.now();
    redisProxy.cut();
    await sleep(4000);
    // Events accepted during the cut wait unprocessed: only the sweeper can bring them back.
    const atRestore = await storedEvents(db!, tenant.id);
    const restoredAt = Date.now();
    redisProxy.restore();
    await sleep(3000);
    await load.stop(20000);

    const statuses = describeAttempts(load.attempts);
    // The events must reach the database while Redis is away: 2xx answers during the cut. Each
    // such answer waits for the queue add to time out (about a second), hence few of them.
    const duringOutage = load.sentBetween(cutAt, restoredAt);
    expect(duringOutage.filter((a) => a.status === 202).length).toBeGreaterThanOrEqual(6);
    expect(atRestore.pending).toBeGreaterThan(0);
    // A Redis outage is no reason to refuse: anything else than 202 (or a 503 asking for a
    // retry) would be a hub bug.
    expect(Object.keys(statuses).filter((s) => s !== '202' && s !== '503')).toEqual([]);
    expect(load.sentBetween(restoredAt + 1000, Date.now()).every((a) => a.status === 202)).toBe(
      true,
    );
    expect(load.unresolved.size).toBe(0);
    expect((await app.request('GET', '/health/ready')).status).toBe(200);

    await expectAnsweredProcessedOnce(db!, tenant.id, load, 40000);
  }, 85000);
});
