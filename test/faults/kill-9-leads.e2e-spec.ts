import { Connection, createConnection } from 'mysql2/promise';
import { RetailcrmSandbox } from '../../connectors/retailcrm/retailcrm.sandbox';
import { loadConfig } from '../../src/config/config';
import { sleep } from '../support/fault-load';
import { freePort, HubProcess } from '../support/hub-process';
import { OwnRedis } from '../support/redis-server';
import { eventually, httpRequest, signedHeaders } from '../support/test-app';
import { dropTestResources, testEnv } from '../support/test-env';

interface Tenant {
  id: string;
  webhookSecret: string;
}

/**
 * Missed calls stream in while the hub is killed with kill -9 and Redis is killed too and
 * restarted with its data gone: queued, delayed and active jobs, claims' rate windows, all of
 * it. RetailCRM answers slowly (each reply leaves 150 ms after the request was handled), so the
 * kill catches tasks the CRM created whose reply never came back. Every missed call the hub
 * acknowledged must become exactly one task: none lost, none doubled.
 */
describe('faults: kill -9 of the hub and an emptied Redis while missed calls stream in', () => {
  const sandbox = new RetailcrmSandbox({ replyDelayMs: 150 });
  let redis: OwnRedis;
  let env: Record<string, string>;
  let hub: HubProcess;
  let db: Connection | undefined;
  let tenant: Tenant;

  beforeAll(async () => {
    await sandbox.start();
    redis = new OwnRedis(await freePort());
    await redis.start();
    env = testEnv({
      REDIS_URL: redis.url,
      // A dead worker's claim lapses after 3 s, so the restarted hub takes its work up soon.
      HUB_CRM_CLAIM_S: '3',
      HUB_CRM_MAX_AGE_S: '3600',
      LOG_LEVEL: 'error',
    });
    hub = new HubProcess(env, await freePort());
    await hub.start();
    const created = await httpRequest(hub.url, 'POST', '/v1/tenants', {
      body: { name: 'Kill nine, leads' },
    });
    expect(created.status).toBe(201);
    tenant = created.body as Tenant;
    const integration = await httpRequest(
      hub.url,
      'POST',
      `/v1/tenants/${tenant.id}/integrations`,
      {
        body: {
          connector: 'retailcrm',
          config: { url: sandbox.url },
          credentials: { apiKey: sandbox.apiKey },
        },
      },
    );
    expect(integration.status).toBe(201);
    await eventually(
      async () => sandbox.modules.has('telephony-hub'),
      (v) => v,
      20000,
    );
    db = await createConnection({ uri: loadConfig(env).databaseUrl });
  }, 90000);
  afterAll(async () => {
    await hub?.kill();
    await db?.end();
    await dropTestResources(loadConfig(env));
    await redis?.kill();
    await sandbox.stop();
  }, 60000);

  /** The events of a missed call from its own unknown number, in one request. */
  function missedCall(n: number): { callId: string; phone: string; raw: string } {
    const callId = `k9l-${n}`;
    const phone = `+7999222${String(n).padStart(4, '0')}`;
    const at = (s: number) => new Date(Date.now() - 30_000 + s * 1000).toISOString();
    const events = [
      {
        id: `${callId}-s`,
        callId,
        type: 'call.started',
        direction: 'inbound',
        from: phone,
        to: '+74957654321',
        at: at(0),
      },
      { id: `${callId}-r`, callId, type: 'call.ringing', extension: '101', at: at(1) },
      { id: `${callId}-e`, callId, type: 'call.ended', result: 'missed', at: at(15) },
    ];
    return { callId, phone, raw: JSON.stringify({ events }) };
  }

  /** Sends until the hub answers 202 (the same event ids: a re-send is never stored twice). */
  async function deliver(call: { raw: string }, stopAt: () => boolean): Promise<boolean> {
    while (!stopAt()) {
      try {
        const res = await fetch(`${hub.url}/v1/pbx/${tenant.id}/events`, {
          method: 'POST',
          headers: signedHeaders(tenant.webhookSecret, call.raw),
          body: call.raw,
          signal: AbortSignal.timeout(5000),
        });
        await res.arrayBuffer();
        if (res.status === 202) return true;
      } catch {
        // the hub is down: try again
      }
      await sleep(100);
    }
    return false;
  }

  async function leadsInDoubt(): Promise<number> {
    const [rows] = await db!.query(
      `SELECT COUNT(*) AS n FROM call_sync WHERE action = 'lead' AND status = 'pending'
         AND sent_at IS NOT NULL`,
    );
    return Number((rows as { n: number }[])[0].n);
  }

  it('turns every acknowledged missed call into exactly one task', async () => {
    const acked = new Map<string, string>();
    let n = 0;
    let streaming = true;
    let giveUp = false;
    const senders = Array.from({ length: 4 }, async () => {
      while (streaming) {
        const call = missedCall(n++);
        if (await deliver(call, () => giveUp)) acked.set(call.callId, call.phone);
        await sleep(40);
      }
    });

    await sleep(3000);
    // Kill at a moment when a task may have been created without the hub learning it.
    for (let i = 0; i < 300 && (await leadsInDoubt()) === 0; i++) await sleep(10);
    const inDoubtAtKill = await leadsInDoubt();
    const tasksAtKill = sandbox.tasks.length;
    await hub.kill();
    await redis.kill();
    await redis.start();
    const keysAfterRestart = await redis.keys();
    await sleep(500);
    await hub.start();
    await sleep(3000);
    streaming = false;
    const stopSending = setTimeout(() => (giveUp = true), 20000);
    await Promise.all(senders);
    clearTimeout(stopSending);

    const tasksFor = (phone: string) =>
      sandbox.tasks.filter((task) => String(task.phone ?? '').includes(phone.slice(1)));
    await eventually(
      async () => [...acked.values()].every((phone) => tasksFor(phone).length > 0),
      (v) => v,
      60000,
    );
    // Anything still in flight settles (a duplicate would show up now).
    await sleep(2000);

    // The kill must land in real work: tasks made before it, and creates in doubt at it.
    expect(tasksAtKill).toBeGreaterThan(10);
    expect(inDoubtAtKill).toBeGreaterThan(0);
    // Redis came back empty: the jobs, claims and rate windows were gone.
    expect(keysAfterRestart).toBe(0);
    expect(acked.size).toBeGreaterThan(tasksAtKill);

    const counts = [...acked.entries()].map(([callId, phone]) => [callId, tasksFor(phone).length]);
    // 0 lost, 0 doubled.
    expect(counts.filter(([, c]) => c !== 1)).toEqual([]);
    expect(sandbox.tasks).toHaveLength(acked.size);
    // The hub's own view agrees: every lead done, none failed.
    const [rows] = await db!.query(
      `SELECT s.status, COUNT(*) AS n FROM call_sync s WHERE s.action = 'lead' GROUP BY s.status`,
    );
    expect(rows).toEqual([{ status: 'done', n: acked.size }]);
  }, 150000);
});
