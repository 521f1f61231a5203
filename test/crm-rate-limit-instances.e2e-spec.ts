import { RetailcrmSandbox } from '../connectors/retailcrm/retailcrm.sandbox';
import { ConnectorRuntime } from '../src/integrations/runtime/connector-runtime.service';
import { IntegrationsService } from '../src/integrations/integrations.service';
import { connectRetailcrm } from './support/retailcrm';
import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  startTestApp,
  TestApp,
} from './support/test-app';

/** Enough calls that their logs are seconds' worth of requests however they share uploads. */
const CALLS = 320;

/** hub_crm_requests_total of one instance, every label summed. */
async function crmRequestsOf(app: TestApp): Promise<number> {
  const metrics = await app.request('GET', '/metrics');
  let total = 0;
  for (const m of metrics.text.matchAll(/^hub_crm_requests_total\{[^}]*\} (\d+)$/gm)) {
    total += Number(m[1]);
  }
  return total;
}

/**
 * Two instances on one database and Redis prefix share the CRM's rate limit: together they
 * stay inside RetailCRM's 40 requests/s for telephony methods (10 for the rest), which the
 * sandbox enforces with 429 as the real API does, while both of them do the work.
 */
describe('the CRM rate limit across two instances', () => {
  const sandbox = new RetailcrmSandbox();
  let a: TestApp;
  let b: TestApp;
  let tenant: CreatedTenant;
  let integrationId: string;

  beforeAll(async () => {
    await sandbox.start();
    sandbox.addUser({ id: 27, firstName: 'Ivan', code: '101' });
    for (let i = 0; i < CALLS; i++) {
      sandbox.addCustomer({
        id: 100 + i,
        firstName: `Client ${i}`,
        phones: [`+7916${String(2000000 + i)}`],
        managerId: 27,
      });
    }
    a = await startTestApp({ HUB_WORKER_CONCURRENCY: '16' });
    b = await startTestApp({
      HUB_WORKER_CONCURRENCY: '16',
      DATABASE_URL: a.config.databaseUrl,
      HUB_REDIS_PREFIX: a.config.redisPrefix,
    });
    tenant = await createTenant(a, { name: 'Two instances' });
    integrationId = await connectRetailcrm(a, tenant.id, sandbox, { agents: { '101': '27' } });
  }, 60000);
  afterAll(async () => {
    await b?.app.close();
    await a?.close();
    await sandbox.stop();
  });

  it('keeps both instances together inside the CRM limits, every call logged once', async () => {
    // The module registration may still be on its way: start once every request is answered.
    await eventually(
      async () => (await crmRequestsOf(a)) + (await crmRequestsOf(b)) - sandbox.requests.length,
      (inFlight) => inFlight === 0,
      10000,
    );
    const [beforeA, beforeB] = [await crmRequestsOf(a), await crmRequestsOf(b)];
    const requestsBefore = sandbox.requests.length;
    const start = Date.now() - 120_000;
    const at = (s: number) => new Date(start + s * 1000).toISOString();
    const ids = Array.from({ length: CALLS }, (_, i) => `two-${i}`);
    // Half the calls reach one instance, half the other, at the same time.
    await Promise.all(
      ids.map((callId, i) =>
        postEvents(i % 2 ? b : a, tenant, {
          events: [
            {
              id: `${callId}-r`,
              callId,
              type: 'call.ringing',
              direction: 'inbound',
              from: `+7916${String(2000000 + i)}`,
              to: '+74957654321',
              extension: '101',
              at: at(0),
            },
            { id: `${callId}-a`, callId, type: 'call.answered', extension: '101', at: at(5) },
            {
              id: `${callId}-e`,
              callId,
              type: 'call.ended',
              result: 'answered',
              duration: 30,
              at: at(35),
            },
          ],
        }),
      ),
    );
    await eventually(
      async () => ids.filter((id) => sandbox.uploadedCalls.has(id)).length,
      (n) => n === CALLS,
      50000,
    );
    expect(ids.filter((id) => sandbox.uploadArrivals.get(id) !== 1)).toEqual([]);
    expect(sandbox.rateLimitRejections).toBe(0);
    expect(sandbox.maxPerSecondObserved('default')).toBeLessThanOrEqual(10);
    expect(sandbox.maxPerSecondObserved('telephony')).toBeLessThanOrEqual(40);
    // Far more than one second's worth went to the telephony methods, so the limit had work to
    // do; how fast the hub got there depends on the machine, and how many calls share an upload
    // on how the calls were processed (the next test saturates the limit from both instances
    // directly).
    const telephony = sandbox.requests
      .slice(requestsBefore)
      .filter((r) => r.path.includes('/telephony/'));
    expect(telephony.length).toBeGreaterThan(80);
    // Which instance takes which job is the queue's choice; together they did it all.
    expect((await crmRequestsOf(a)) - beforeA + (await crmRequestsOf(b)) - beforeB).toBe(
      sandbox.requests.length - requestsBefore,
    );
  }, 90000);

  it('makes each instance wait for the slots the other took', async () => {
    const integration = await a.app
      .get(IntegrationsService, { strict: false })
      .get(tenant.id, integrationId);
    const live = [a, b].map((app) =>
      app.app.get(ConnectorRuntime, { strict: false }).forIntegration(integration),
    );
    const rejectionsBefore = sandbox.rateLimitRejections;
    const started = Date.now();
    // 30 lookups (RetailCRM's /telephony/manager) from each instance at once: 60 requests
    // for the 40 per second of telephony methods.
    const found = await Promise.all(
      Array.from({ length: 60 }, (_, i) =>
        live[i % 2].lookupContact(`+7916${String(2000000 + i)}`),
      ),
    );
    const tookMs = Date.now() - started;
    expect(found.map((c) => c?.id)).toEqual(Array.from({ length: 60 }, (_, i) => String(100 + i)));
    expect(sandbox.rateLimitRejections).toBe(rejectionsBefore);
    expect(sandbox.maxPerSecondObserved('telephony')).toBeLessThanOrEqual(40);
    // Two windows of 40: with a limit per instance instead, 30 each would go in one.
    expect(tookMs).toBeGreaterThanOrEqual(1000);
  }, 30000);
});
