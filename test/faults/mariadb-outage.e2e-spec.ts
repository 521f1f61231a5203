import { Connection, createConnection } from 'mysql2/promise';
import {
  describeAttempts,
  EventLoad,
  expectAnsweredProcessedOnce,
  sleep,
} from '../support/fault-load';
import { TcpProxy } from '../support/tcp-proxy';
import { CreatedTenant, createTenant, startTestApp, TestApp } from '../support/test-app';

const OUTAGE_MS = 10000;

/**
 * The database is unreachable for 10 s (a TcpProxy cut in front of MariaDB) while events keep
 * coming. The hub cannot store, so it must not say it did: 503 for every request answered
 * during the cut, never 2xx. Once the database is back it answers 202 again, and every event it
 * answered 2xx, before, during or after, is processed exactly once.
 */
describe('faults: MariaDB outage under ingest load', () => {
  const dbProxy = new TcpProxy('127.0.0.1', 3306);
  let t: TestApp | undefined;
  let db: Connection | undefined;
  let load: EventLoad | undefined;
  let tenant: CreatedTenant;

  beforeAll(async () => {
    await dbProxy.start();
    const name = `hub_test_dbout_${Date.now().toString(36)}`;
    t = await startTestApp({
      DATABASE_URL: `mysql://root@127.0.0.1:${dbProxy.port}/${name}`,
      HUB_SWEEP_AFTER_S: '2',
      HUB_SWEEP_INTERVAL_S: '1',
    });
    tenant = await createTenant(t, { name: 'Database outage' });
    // The test reads the database directly, past the proxy, so it sees it during the cut too.
    db = await createConnection({ uri: `mysql://root@127.0.0.1:3306/${name}` });
  }, 60000);
  afterAll(async () => {
    await load?.stop(0);
    dbProxy.restore();
    await db?.end();
    // close() also drops the database (through the restored proxy) and the Redis keys.
    await t?.close();
    await dbProxy.close();
  }, 60000);

  it('answers 503 and never 2xx while it cannot store, then 202 again, losing nothing', async () => {
    const app = t!;
    load = new EventLoad({
      baseUrl: () => app.url,
      tenant,
      senders: 6,
      prefix: 'db',
      retryPauseMs: 200,
    });
    load.start();
    await sleep(2500);
    const cutAt = Date.now();
    dbProxy.cut();
    await sleep(OUTAGE_MS);
    const restoredAt = Date.now();
    dbProxy.restore();
    await sleep(4000);
    await load.stop(20000);

    // A request sent during the cut may wait for storage and be answered once the database is
    // back (then 202 is the truth); one answered during the cut must be a refusal.
    const duringOutage = load.answeredBetween(cutAt, restoredAt);
    // Load kept coming during the cut, and every one of those requests was refused with 503.
    expect(duringOutage.length).toBeGreaterThan(50);
    expect(describeAttempts(duringOutage)).toEqual({ '503': duringOutage.length });
    for (const a of duringOutage) expect(JSON.parse(a.text)).toMatchObject({ statusCode: 503 });
    // Outside the cut nothing but 202 and 503 (a request that was in flight at the cut).
    expect(Object.keys(describeAttempts(load.attempts)).sort()).toEqual(['202', '503']);
    // Recovered: the last seconds after the restore are all 202.
    const late = load.sentBetween(restoredAt + 2000, Date.now());
    expect(late.length).toBeGreaterThan(0);
    expect(late.every((a) => a.status === 202)).toBe(true);
    expect(load.unresolved.size).toBe(0);
    expect((await app.request('GET', '/health/ready')).status).toBe(200);

    await expectAnsweredProcessedOnce(db!, tenant.id, load, 40000);
  }, 85000);
});
