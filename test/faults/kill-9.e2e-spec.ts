import { Connection, createConnection } from 'mysql2/promise';
import { loadConfig } from '../../src/config/config';
import {
  describeAttempts,
  EventLoad,
  expectAnsweredProcessedOnce,
  sleep,
  storedEvents,
} from '../support/fault-load';
import { freePort, HubProcess } from '../support/hub-process';
import { httpRequest } from '../support/test-app';
import { dropTestResources, testEnv } from '../support/test-env';

/**
 * kill -9 of the hub in the middle of steady ingest load, then a restart on the same database
 * and Redis prefix while the senders keep going. Every event answered 2xx must end up stored
 * once and processed exactly once; events whose request died with the hub are re-sent with the
 * same id and must not be stored twice.
 */
describe('faults: kill -9 of the hub under ingest load', () => {
  const env = testEnv({
    // Re-queue after a short while, so the events caught by the kill are picked up quickly.
    HUB_SWEEP_AFTER_S: '2',
    HUB_SWEEP_INTERVAL_S: '1',
    // One job at a time, so processing trails the load and the kill finds a backlog to lose.
    HUB_CALL_WORKERS: '1',
    LOG_LEVEL: 'error',
  });
  const config = loadConfig(env);
  let hub: HubProcess;
  let db: Connection | undefined;
  let load: EventLoad | undefined;

  beforeAll(async () => {
    hub = new HubProcess(env, await freePort());
  });
  afterAll(async () => {
    // Senders first (they would keep hammering a stopped hub), then the hub, then the data.
    await load?.stop(0);
    await hub.kill();
    await db?.end();
    await dropTestResources(config);
  }, 60000);

  it('stores and processes every 2xx-answered event exactly once across a kill -9', async () => {
    await hub.start();
    const created = await httpRequest(hub.url, 'POST', '/v1/tenants', {
      body: { name: 'Kill nine' },
    });
    expect(created.status).toBe(201);
    const tenant = created.body as { id: string; webhookSecret: string };
    db = await createConnection({ uri: config.databaseUrl });

    load = new EventLoad({ baseUrl: () => hub.url, tenant, senders: 12, prefix: 'k9', pauseMs: 0 });
    load.start();
    await sleep(2500);
    // Kill at a moment when stored events wait for processing (batched processing keeps up
    // well, so look for the moment rather than hope for it).
    for (let i = 0; i < 200 && (await storedEvents(db, tenant.id)).pending === 0; i++)
      await sleep(10);
    const acceptedBeforeKill = load.answered.size;
    const killedAt = Date.now();
    await hub.kill();
    // The kill must also catch stored events not processed yet, or the sweeper is not exercised.
    const atKill = await storedEvents(db, tenant.id);
    // The senders keep trying (and failing) while the hub is down: those requests are re-sent.
    await sleep(1000);
    const restartingAt = Date.now();
    await hub.start();
    const restartedAt = Date.now();
    await sleep(4000);
    await load.stop(20000);

    const statuses = describeAttempts(load.attempts);
    // The kill must land in real load, or the test proves nothing.
    expect(acceptedBeforeKill).toBeGreaterThan(200);
    expect(atKill.pending).toBeGreaterThan(0);
    const whileDown = load.sentBetween(killedAt, restartingAt);
    expect(whileDown.length).toBeGreaterThan(0);
    expect(whileDown.every((a) => a.status === 0)).toBe(true);
    expect(load.sentBetween(restartedAt, Date.now()).some((a) => a.status === 202)).toBe(true);
    // Only "no answer" (the hub was gone) and 202 are expected; a 4xx/5xx would be a hub bug.
    expect(Object.keys(statuses).sort()).toEqual(['0', '202']);
    expect(load.unresolved.size).toBe(0);

    await expectAnsweredProcessedOnce(db, tenant.id, load, 45000);
  }, 85000);
});
