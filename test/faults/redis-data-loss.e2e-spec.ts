import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import { RetailcrmSandbox } from '../../connectors/retailcrm/retailcrm.sandbox';
import { AsteriskSourceService } from '../../src/pbx/asterisk/asterisk-source.service';
import { inboundCall } from '../support/call-events';
import { FakeAmiServer } from '../support/fake-ami-server';
import { freePort } from '../support/hub-process';
import { OwnRedis } from '../support/redis-server';
import { connectRetailcrm } from '../support/retailcrm';
import { sleep } from '../support/fault-load';
import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  startTestApp,
  TestApp,
} from '../support/test-app';

const CAPTURE = join(__dirname, '../fixtures/asterisk-ami/simple_ab_success_a_hangup.json');

/**
 * Redis dies and comes back empty (a real redis-server of the test's own, no persistence)
 * while CRM work waits in Redis: a call log in backoff as a delayed job, a module
 * registration retrying, the Asterisk holder's lease. MariaDB alone must bring all of it
 * back: the log sent once, the registration done, the lease taken again, new calls processed.
 */
describe('faults: Redis loses its data while CRM work waits in it', () => {
  const sandbox = new RetailcrmSandbox();
  const ami = new FakeAmiServer({ username: 'crmhub', secret: 's3cret' });
  let redis: OwnRedis;
  let t: TestApp | undefined;
  let tenant: CreatedTenant;
  let integrationId: string;
  let sourceId: string;

  const moduleCodes = (): string[] => {
    const module = sandbox.modules.get('telephony-hub') as
      { integrations?: { telephony?: { additionalCodes?: { code: string }[] } } } | undefined;
    return (module?.integrations?.telephony?.additionalCodes ?? []).map((c) => c.code).sort();
  };
  const syncRow = async (callId: string, action: string) => {
    const [row] = await t!.db.query(
      `SELECT s.status, s.failures FROM call_sync s JOIN calls c ON c.id = s.call_pk
         WHERE c.tenant_id = ? AND c.call_id = ? AND s.action = ?`,
      [tenant.id, callId, action],
    );
    return row as { status: string; failures: number } | undefined;
  };

  beforeAll(async () => {
    redis = new OwnRedis(await freePort());
    await redis.start();
    await sandbox.start();
    sandbox.addUser({ id: 27, firstName: 'Ivan', code: '101' });
    sandbox.addUser({ id: 28, firstName: 'Olga', code: '102' });
    sandbox.addCustomer({ id: 7, firstName: 'Anna', phones: ['+79161234567'], managerId: 27 });
    const amiPort = await ami.listen();
    t = await startTestApp({
      REDIS_URL: redis.url,
      // A lost job's row counts as lost once its claim (3 s) and the sweep delay are over.
      HUB_CRM_CLAIM_S: '3',
      HUB_CRM_MAX_AGE_S: '3600',
    });
    tenant = await createTenant(t, { name: 'Redis data loss' });
    integrationId = await connectRetailcrm(t, tenant.id, sandbox, {
      settings: { popOnRinging: false },
      agents: { '101': '27' },
    });
    const source = await t.request('POST', `/v1/tenants/${tenant.id}/pbx-sources`, {
      body: {
        type: 'asterisk',
        config: { host: '127.0.0.1', port: amiPort },
        credentials: { username: 'crmhub', secret: 's3cret' },
      },
    });
    expect(source.status).toBe(201);
    sourceId = source.body.id;
    await eventually(
      async () => t!.app.get(AsteriskSourceService).holds(sourceId),
      (v) => v,
      10000,
    );
  }, 60000);
  afterAll(async () => {
    sandbox.clearFaults();
    await t?.close();
    await ami.close();
    await sandbox.stop();
    await redis?.kill();
  }, 60000);

  it('brings back a delayed log, a pending registration and the AMI lease from MariaDB', async () => {
    const app = t!;
    // The CRM fails: the log goes into backoff, the new agent's registration retries.
    sandbox.setOutage(120_000, 503);
    const callId = 'lost-log-1';
    const played = inboundCall(callId, '+79161234567', { answeredBy: '101' });
    const posted = await postEvents(app, tenant, { events: [...played.start, ...played.end] });
    expect(posted.status).toBe(202);
    const agents = await app.request('PUT', `/v1/tenants/${tenant.id}/agents`, {
      body: [
        { extension: '101', crmUsers: { [integrationId]: '27' } },
        { extension: '102', crmUsers: { [integrationId]: '28' } },
      ],
    });
    expect(agents.status).toBe(200);
    const failing = await eventually(
      () => syncRow(callId, 'log'),
      (r) => (r?.failures ?? 0) >= 2,
      20000,
    );
    expect(failing).toMatchObject({ status: 'pending' });
    const [due] = await app.db.query('SELECT install_due_at FROM integrations WHERE id = ?', [
      integrationId,
    ]);
    expect(due.install_due_at).not.toBeNull();
    expect(moduleCodes()).not.toContain('102');

    // Redis dies with everything in it and comes back empty; then the CRM recovers.
    await redis.kill();
    await redis.start();
    await sleep(1000);
    sandbox.clearFaults();

    await eventually(
      async () => sandbox.uploadedCalls.has(callId) && moduleCodes().includes('102'),
      (v) => v,
      45000,
    );
    expect(sandbox.uploadArrivals.get(callId)).toBe(1);
    expect(moduleCodes()).toEqual(['101', '102']);
    // The upload arrived; the hub records it done once the CRM's reply is back.
    const logRow = await eventually(
      () => syncRow(callId, 'log'),
      (r) => r?.status === 'done',
      10000,
    );
    expect(logRow).toMatchObject({ status: 'done' });

    // The holder took its lease again in the new Redis, and calls from Asterisk go through.
    const service = app.app.get(AsteriskSourceService);
    const direct = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    try {
      const lease = await eventually(
        () => direct.get(service.leaseKey(sourceId)),
        (v) => v !== null,
        10000,
      );
      expect(lease).not.toBeNull();
    } finally {
      direct.disconnect();
    }
    expect(service.holds(sourceId)).toBe(true);
    const events = JSON.parse(readFileSync(CAPTURE, 'utf8')) as Record<string, string>[];
    await ami.replay(events);
    const linkedid = events.find((e) => e.Linkedid)!.Linkedid;
    const call = await eventually(
      () => app.request('GET', `/v1/tenants/${tenant.id}/calls/${encodeURIComponent(linkedid)}`),
      (r) =>
        r.status === 200 &&
        r.body.status === 'ended' &&
        r.body.events.every((e: { processed: boolean }) => e.processed),
      20000,
    );
    expect(call.body).toMatchObject({ result: 'answered', answeredBy: '202' });
  }, 120000);
});
