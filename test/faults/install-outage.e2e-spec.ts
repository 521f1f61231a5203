import { RetailcrmSandbox } from '../../connectors/retailcrm/retailcrm.sandbox';
import { sleep } from '../support/fault-load';
import { connectRetailcrm } from '../support/retailcrm';
import {
  CreatedTenant,
  createTenant,
  eventually,
  startTestApp,
  TestApp,
} from '../support/test-app';

const OUTAGE_MS = 20_000;

/**
 * An agent map changed while the CRM is down (RetailCRM answers 503, its "limit exceeded")
 * is registered once the CRM is back: the module registration is retried for as long as any
 * CRM action, however often it was throttled meanwhile, and never given up after a count.
 */
describe('faults: the module registration through a CRM outage', () => {
  const sandbox = new RetailcrmSandbox();
  let t: TestApp | undefined;
  let tenant: CreatedTenant;
  let integrationId: string;

  const moduleCodes = (): string[] => {
    const module = sandbox.modules.get('telephony-hub') as
      { integrations?: { telephony?: { additionalCodes?: { code: string }[] } } } | undefined;
    return (module?.integrations?.telephony?.additionalCodes ?? []).map((c) => c.code).sort();
  };

  beforeAll(async () => {
    await sandbox.start();
    sandbox.addUser({ id: 27, firstName: 'Ivan', code: '101' });
    sandbox.addUser({ id: 28, firstName: 'Olga', code: '102' });
    t = await startTestApp({ HUB_CRM_MAX_AGE_S: '3600' });
    tenant = await createTenant(t, { name: 'Install outage' });
    integrationId = await connectRetailcrm(t, tenant.id, sandbox, { agents: { '101': '27' } });
    await eventually(
      async () => moduleCodes(),
      (codes) => codes.includes('101'),
      20000,
    );
  }, 60000);
  afterAll(async () => {
    sandbox.clearFaults();
    await t?.close();
    await sandbox.stop();
  });

  it('registers the new agent after the outage', async () => {
    const app = t!;
    sandbox.setOutage(OUTAGE_MS, 503);
    const agents = await app.request('PUT', `/v1/tenants/${tenant.id}/agents`, {
      body: [
        { extension: '101', crmUsers: { [integrationId]: '27' } },
        { extension: '102', crmUsers: { [integrationId]: '28' } },
      ],
    });
    expect(agents.status).toBe(200);
    await sleep(OUTAGE_MS - 2000);
    // Still down: the registration waits, visibly.
    const during = await app.request(
      'GET',
      `/v1/tenants/${tenant.id}/integrations/${integrationId}`,
    );
    expect(during.body.statusMessage).toMatch(/^install failed: /);
    expect(moduleCodes()).toEqual(['101']);
    await sleep(2000);
    sandbox.clearFaults();

    await eventually(
      async () => moduleCodes(),
      (codes) => codes.includes('102'),
      40000,
    );
    expect(moduleCodes()).toEqual(['101', '102']);
    const after = await eventually(
      () => app.request('GET', `/v1/tenants/${tenant.id}/integrations/${integrationId}`),
      (r) => r.body.status === 'connected',
      10000,
    );
    expect(after.body.statusMessage).toBeNull();
    // Settled right after the status is saved: nothing is due any more.
    const row = await eventually(
      async () =>
        (
          (await app.db.query('SELECT install_due_at FROM integrations WHERE id = ?', [
            integrationId,
          ])) as { install_due_at: Date | null }[]
        )[0],
      (r) => r.install_due_at === null,
      10000,
    );
    expect(row.install_due_at).toBeNull();
  }, 90000);
});
