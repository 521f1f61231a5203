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

/**
 * A call whose end never arrives (an AMI gap, a lost webhook) is ended by the hub after a
 * while without events, through processing like any end: the card closes in the CRM, the
 * call is logged, and the call says why it was closed.
 */
describe('calls whose end never arrived', () => {
  const sandbox = new RetailcrmSandbox();
  let t: TestApp;
  let tenant: CreatedTenant;

  beforeAll(async () => {
    await startWithIvanAndAnna(sandbox);
    t = await startTestApp({
      HUB_UNANSWERED_CALL_MAX_S: '2',
      HUB_ANSWERED_CALL_MAX_S: '4',
      HUB_SWEEP_INTERVAL_S: '1',
    });
    tenant = await createTenant(t, { name: 'Lost ends' });
    await connectRetailcrm(t, tenant.id, sandbox, { agents: { '101': '27' } });
  }, 60000);
  afterAll(async () => {
    await t?.close();
    await sandbox.stop();
  });

  const callOf = (callId: string) => t.request('GET', `/v1/tenants/${tenant.id}/calls/${callId}`);

  it('ends a ringing call as missed, closes its card and says why', async () => {
    const call = inboundCall('lost-1', '+79161234567', { startedAt: Date.now() - 5000 });
    await postEvents(t, tenant, { events: call.start });
    const closed = await eventually(
      () => callOf('lost-1'),
      (r) => r.body?.status === 'ended' && r.body.lastError !== null,
      20000,
    );
    expect(closed.body).toMatchObject({
      status: 'ended',
      result: 'missed',
      lastError: 'closed by the hub: no end of the call arrived within 2 s of its last event',
    });
    expect(closed.body.events.at(-1)).toMatchObject({
      id: 'hub-closed:lost-1',
      type: 'call.ended',
    });
    await eventually(
      async () =>
        sandbox.requests.filter(
          (r) =>
            r.path.endsWith('/telephony/call/event') &&
            (r.form.event as { type?: string; callExternalId?: string }).type === 'hangup' &&
            (r.form.event as { callExternalId?: string }).callExternalId === 'lost-1',
        ).length,
      (n) => n === 1,
      10000,
    );
    const metrics = await t.request('GET', '/metrics');
    expect(metrics.text).toMatch(/hub_calls_closed_by_hub_total [1-9]/);
  }, 40000);

  it('ends an answered call after the longer wait, as answered, and logs it', async () => {
    const call = inboundCall('lost-2', '+79161234567', {
      answeredBy: '101',
      startedAt: Date.now() - 20_000,
    });
    // The answer arrives, the end does not.
    await postEvents(t, tenant, { events: [...call.start, call.end[0]] });
    await eventually(
      () => callOf('lost-2'),
      (r) => r.body?.status === 'answered',
      10000,
    );
    const answeredSeen = Date.now();
    const closed = await eventually(
      () => callOf('lost-2'),
      (r) => r.body?.status === 'ended' && r.body.lastError !== null,
      25000,
    );
    // Not before its own, longer, limit.
    expect(Date.now() - answeredSeen).toBeGreaterThanOrEqual(3000);
    expect(closed.body).toMatchObject({ result: 'answered', answeredBy: '101' });
    expect(closed.body.lastError).toMatch(/^closed by the hub: /);
    await eventually(
      async () => sandbox.uploadedCalls.has('lost-2'),
      (v) => v,
      10000,
    );
  }, 45000);
});
