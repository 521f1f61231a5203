import { RetailcrmSandbox } from '../connectors/retailcrm/retailcrm.sandbox';
import { inboundCall } from './support/call-events';
import { connectRetailcrm, startWithIvanAndAnna } from './support/retailcrm';
import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  startTestApp,
  TestApp,
} from './support/test-app';

const MAX_AGE_S = 4;

/**
 * A CRM action that never succeeds within HUB_CRM_MAX_AGE_S is given up: the call shows it
 * failed with the reason, the metric counts it, and nothing is sent for it afterwards.
 */
describe('a CRM action past its maximum age', () => {
  const sandbox = new RetailcrmSandbox();
  let t: TestApp;
  let tenant: CreatedTenant;

  beforeAll(async () => {
    await startWithIvanAndAnna(sandbox);
    t = await startTestApp({ HUB_CRM_MAX_AGE_S: String(MAX_AGE_S) });
    tenant = await createTenant(t, { name: 'Max age' });
    await connectRetailcrm(t, tenant.id, sandbox, {
      settings: { popOnRinging: false, attachRecordings: false },
      agents: { '101': '27' },
    });
  }, 60000);
  const installsGivenUp = async (): Promise<number> => {
    const metrics = await t.request('GET', '/metrics');
    const m =
      /hub_crm_actions_failed_total\{connector="retailcrm",action="install",reason="max_age"\} (\d+)/.exec(
        metrics.text,
      );
    return m ? Number(m[1]) : 0;
  };

  afterAll(async () => {
    await t?.close();
    await sandbox.stop();
  });

  it('shows the log failed on the call, counts it, and sends nothing for it later', async () => {
    sandbox.setOutage(60_000, 503);
    const callId = 'aged-1';
    const played = inboundCall(callId, '+79161234567', { answeredBy: '101' });
    const posted = await postEvents(t, tenant, { events: [...played.start, ...played.end] });
    expect(posted.status).toBe(202);
    const call = await eventually(
      () => t.request('GET', `/v1/tenants/${tenant.id}/calls/${callId}`),
      (r) => r.body?.integrations?.[0]?.actions?.log?.status === 'failed',
      30000,
    );
    const log = call.body.integrations[0].actions.log;
    expect(log.lastError).toBe(`gave up after ${MAX_AGE_S} s: log never succeeded`);
    // It was tried against the failing CRM before it was given up.
    expect(log.attempts).toBeGreaterThanOrEqual(2);
    const metrics = await t.request('GET', '/metrics');
    expect(metrics.text).toMatch(
      /hub_crm_actions_failed_total\{connector="retailcrm",action="log",reason="max_age"\} 1\b/,
    );

    // The CRM comes back: a given-up action stays given up.
    sandbox.clearFaults();
    const requestsBefore = sandbox.requests.length;
    await new Promise((r) => setTimeout(r, 3000));
    expect(sandbox.uploadArrivals.get(callId)).toBeUndefined();
    expect(sandbox.uploadedCalls.has(callId)).toBe(false);
    // (The module registration of the agent map retries on its own; it is not call work.)
    const callWork = sandbox.requests
      .slice(requestsBefore)
      .filter((q) => !q.path.includes('/integration-modules/'));
    expect(callWork).toEqual([]);
    const again = await t.request('GET', `/v1/tenants/${tenant.id}/calls/${callId}`);
    expect(again.body.integrations[0].actions.log.status).toBe('failed');
  }, 60000);

  it('gives up a module registration past the maximum age, visibly, and counts it', async () => {
    // An earlier install may have been given up already during the first case's outage.
    const givenUpBefore = await installsGivenUp();
    sandbox.setOutage(60_000, 503);
    try {
      const integration = (await t.request('GET', `/v1/tenants/${tenant.id}/integrations`))
        .body[0] as { id: string };
      const put = await t.request('PUT', `/v1/tenants/${tenant.id}/agents`, {
        body: [
          { extension: '101', crmUsers: { [integration.id]: '27' } },
          { extension: '102', crmUsers: { [integration.id]: '27' } },
        ],
      });
      expect(put.status).toBe(200);
      const path = `/v1/tenants/${tenant.id}/integrations/${integration.id}`;
      const dueAt = async () =>
        (
          (await t.db.query('SELECT install_due_at FROM integrations WHERE id = ?', [
            integration.id,
          ])) as { install_due_at: Date | null }[]
        )[0].install_due_at;
      expect(await dueAt()).not.toBeNull();
      await eventually(dueAt, (v) => v === null, 30000);
      const failed = await t.request('GET', path);
      expect(failed.body).toMatchObject({
        status: 'error',
        statusMessage: `install failed: gave up after ${MAX_AGE_S} s`,
      });
      expect(await installsGivenUp()).toBe(givenUpBefore + 1);
      // Given up, not sent: the CRM still has the map from before the change.
      const module = sandbox.modules.get('telephony-hub') as {
        integrations: { telephony: { additionalCodes: { code: string }[] } };
      };
      expect(module.integrations.telephony.additionalCodes.map((c) => c.code)).not.toContain('102');
    } finally {
      sandbox.clearFaults();
    }
  }, 60000);
});
