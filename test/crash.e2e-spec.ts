import { createConnection, Connection } from 'mysql2/promise';
import { loadConfig } from '../src/config/config';
import { freePort, HubProcess } from './support/hub-process';
import { httpRequest, signedHeaders } from './support/test-app';
import { dropTestResources, testEnv } from './support/test-env';

const at = (s: number) => new Date(Date.UTC(2026, 10, 25, 12, 0, 0) + s).toISOString();

describe('crash: kill -9 while jobs are in flight', () => {
  const env = testEnv({
    HUB_CALL_WORKERS: '1',
    HUB_SWEEP_AFTER_S: '3',
    HUB_SWEEP_INTERVAL_S: '1',
    LOG_LEVEL: 'error',
  });
  const config = loadConfig(env);
  let db: Connection;
  let hub: HubProcess;

  beforeAll(async () => {
    hub = new HubProcess(env, await freePort());
  });
  afterAll(async () => {
    await hub.kill();
    await db?.end();
    await dropTestResources(config);
  }, 60000);

  it('processes every accepted event exactly once after a restart', async () => {
    await hub.start();
    const tenantRes = await httpRequest(hub.url, 'POST', '/v1/tenants', {
      body: { name: 'Crash' },
    });
    expect(tenantRes.status).toBe(201);
    const tenant = tenantRes.body as { id: string; webhookSecret: string };

    let accepted = 0;
    for (let b = 0; b < 10; b++) {
      const events = Array.from({ length: 100 }, (_, i) => {
        const n = b * 100 + i;
        return {
          id: `k-${n}`,
          callId: `kc-${n % 250}`,
          type: n % 3 ? 'call.ringing' : 'call.started',
          direction: 'inbound',
          from: '+74951234567',
          extension: String(100 + (n % 7)),
          at: at(n),
        };
      });
      const raw = JSON.stringify({ events });
      const res = await httpRequest(hub.url, 'POST', `/v1/pbx/${tenant.id}/events`, {
        rawBody: raw,
        headers: signedHeaders(tenant.webhookSecret, raw),
      });
      expect(res.status).toBe(202);
      accepted += res.body.accepted;
    }
    await hub.kill();

    db = await createConnection({ uri: config.databaseUrl });
    const [[before]] = (await db.query(
      'SELECT SUM(processed_at IS NULL) AS pending, COUNT(*) AS n FROM call_events',
    )) as unknown as [{ pending: string; n: number }[]];
    expect(Number(before.n)).toBe(accepted);
    // The kill must have caught work in progress, or this test proves nothing.
    expect(Number(before.pending)).toBeGreaterThan(0);

    await hub.start();
    const deadline = Date.now() + 60000;
    let pending = Number(before.pending);
    while (pending > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      const [[row]] = (await db.query(
        'SELECT SUM(processed_at IS NULL) AS pending FROM call_events',
      )) as unknown as [{ pending: string }[]];
      pending = Number(row.pending);
    }
    expect(pending).toBe(0);
    const [counts] = (await db.query(
      'SELECT process_count, COUNT(*) AS n FROM call_events GROUP BY process_count',
    )) as unknown as [{ process_count: number; n: number }[]];
    expect(counts.map((c) => [c.process_count, Number(c.n)])).toEqual([[1, 1000]]);
    const [[calls]] = (await db.query('SELECT COUNT(*) AS n FROM calls')) as unknown as [
      { n: number }[],
    ];
    expect(Number(calls.n)).toBe(250);
  }, 150000);
});
