import { Connection, createConnection } from 'mysql2/promise';
import { RetailcrmSandbox } from '../connectors/retailcrm/retailcrm.sandbox';
import { loadConfig } from '../src/config/config';
import { freePort, HubProcess } from './support/hub-process';
import { eventually, httpRequest, signedHeaders } from './support/test-app';
import { dropTestResources, testEnv } from './support/test-env';

const TASK_CREATE = '/api/v5/tasks/create';

interface Tenant {
  id: string;
  webhookSecret: string;
}

/**
 * SIGTERM with a CRM request in flight. The hub must stop taking work at once (readiness 503),
 * let work in flight finish within HUB_SHUTDOWN_S, release what cannot finish for another
 * instance, and exit at once on a second signal. One hub process per case, on one database.
 */
describe('graceful shutdown', () => {
  const sandbox = new RetailcrmSandbox();
  const env = testEnv({ LOG_LEVEL: 'warn', HUB_CRM_CLAIM_S: '5', HUB_OUTBOUND_ALLOW: '127.0.0.1' });
  const config = loadConfig(env);
  let db: Connection;
  let tenant: Tenant;
  let hub: HubProcess | undefined;
  let n = 0;

  async function startHub(extra: Record<string, string>): Promise<HubProcess> {
    const h = new HubProcess({ ...env, ...extra }, await freePort());
    await h.start();
    return h;
  }

  beforeAll(async () => {
    await sandbox.start();
    hub = await startHub({});
    const created = await httpRequest(hub.url, 'POST', '/v1/tenants', { body: { name: 'Stop' } });
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
    await hub.kill();
    db = await createConnection({ uri: config.databaseUrl });
  }, 90000);
  afterEach(async () => {
    sandbox.clearFaults();
    await hub?.kill();
  });
  afterAll(async () => {
    await db?.end();
    await dropTestResources(config);
    await sandbox.stop();
  }, 60000);

  /** A missed call of a new unknown number; resolves once its task create reached the CRM. */
  async function leadInFlight(h: HubProcess): Promise<{ callId: string; phone: string }> {
    n++;
    const callId = `stop-${n}`;
    const phone = `+7999333${String(n).padStart(4, '0')}`;
    const at = (s: number) => new Date(Date.now() - 30_000 + s * 1000).toISOString();
    const raw = JSON.stringify({
      events: [
        {
          id: `${callId}-s`,
          callId,
          type: 'call.started',
          direction: 'inbound',
          from: phone,
          to: '+74957654321',
          at: at(0),
        },
        { id: `${callId}-e`, callId, type: 'call.ended', result: 'missed', at: at(15) },
      ],
    });
    const before = sandbox.requests.length;
    const res = await fetch(`${h.url}/v1/pbx/${tenant.id}/events`, {
      method: 'POST',
      headers: signedHeaders(tenant.webhookSecret, raw),
      body: raw,
    });
    expect(res.status).toBe(202);
    await eventually(
      async () => sandbox.requests.slice(before).some((r) => r.path === TASK_CREATE),
      (v) => v,
      20000,
    );
    return { callId, phone };
  }

  const tasksFor = (phone: string) =>
    sandbox.tasks.filter((task) => String(task.phone ?? '').includes(phone.slice(1)));

  async function leadRow(callId: string) {
    const [rows] = await db.query(
      `SELECT s.status, s.claimed_until, s.sent_at FROM call_sync s JOIN calls c ON c.id = s.call_pk
       WHERE c.tenant_id = ? AND c.call_id = ? AND s.action = 'lead'`,
      [tenant.id, callId],
    );
    return (rows as { status: string; claimed_until: Date | null; sent_at: Date | null }[])[0];
  }

  it('turns not ready at once, lets the request in flight finish and exits 0', async () => {
    hub = await startHub({ HUB_SHUTDOWN_S: '10' });
    sandbox.hangNext(1, 3000, TASK_CREATE);
    const call = await leadInFlight(hub);
    const signalledAt = Date.now();
    hub.signal('SIGTERM');
    // At once: within a second of the signal, while the request is still in flight.
    const ready = await eventually(
      () => fetch(`${hub!.url}/health/ready`).then((r) => r.status),
      (status) => status === 503,
      1000,
    );
    expect(ready).toBe(503);

    const code = await hub.exited(15000);
    expect(code).toBe(0);
    // It waited for the CRM's answer (3 s) rather than cutting the request off.
    expect(Date.now() - signalledAt).toBeGreaterThanOrEqual(2500);
    expect(tasksFor(call.phone)).toHaveLength(1);
    expect((await leadRow(call.callId)).status).toBe('done');
  }, 60000);

  it('releases what cannot finish in time, exits 1, and another instance completes it once', async () => {
    hub = await startHub({ HUB_SHUTDOWN_S: '2' });
    sandbox.hangNext(1, 20000, TASK_CREATE);
    const call = await leadInFlight(hub);
    const signalledAt = Date.now();
    hub.signal('SIGTERM');
    const code = await hub.exited(10000);
    expect(code).toBe(1);
    expect(Date.now() - signalledAt).toBeLessThan(6000);
    // Released (not left claimed until the claim lapses), and known to be in doubt.
    const row = await leadRow(call.callId);
    expect(row).toMatchObject({ status: 'pending', claimed_until: null });
    expect(row.sent_at).not.toBeNull();

    hub = await startHub({});
    await eventually(
      async () => (await leadRow(call.callId)).status,
      (s) => s === 'done',
      40000,
    );
    expect(tasksFor(call.phone)).toHaveLength(1);
  }, 90000);

  it('exits at once on a second signal', async () => {
    hub = await startHub({ HUB_SHUTDOWN_S: '60' });
    sandbox.hangNext(1, 20000, TASK_CREATE);
    await leadInFlight(hub);
    hub.signal('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    const secondAt = Date.now();
    hub.signal('SIGTERM');
    const code = await hub.exited(5000);
    expect(code).toBe(1);
    expect(Date.now() - secondAt).toBeLessThan(1500);
  }, 60000);
});
