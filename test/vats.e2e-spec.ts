import { RetailcrmSandbox } from '../connectors/retailcrm/retailcrm.sandbox';
import { connectRetailcrm, startWithIvanAndAnna } from './support/retailcrm';
import { CreatedTenant, createTenant, eventually, startTestApp, TestApp } from './support/test-app';
import { FakeVatsApi, VatsPbx, vatsUser } from './support/vats-simulator';

const API_KEY = 'vats-api-key-0001';
const CRM_TOKEN = 'crm-token-0123456789';
const ANNA = '79161234567';
const LINE = '74951234567';

describe('VATS "universal CRM API" source /v1/pbx/:tenantId/vats', () => {
  const sandbox = new RetailcrmSandbox();
  const api = new FakeVatsApi({
    apiKey: API_KEY,
    users: [
      vatsUser('ivanov', '101', { name: 'Ivan Ivanov', mobile: '79031112233' }),
      vatsUser('petrova', '102', { name: 'Olga Petrova' }),
    ],
  });
  let t: TestApp;
  let tenant: CreatedTenant;
  let sourceId: string;
  let pbx: VatsPbx;

  beforeAll(async () => {
    await startWithIvanAndAnna(sandbox);
    sandbox.addUser({ id: 31, firstName: 'Olga', code: '102' });
    await api.start();
    t = await startTestApp();
    tenant = await createTenant(t, { name: 'VATS shop', routingBudgetMs: 500 });
    await connectRetailcrm(t, tenant.id, sandbox, { agents: { '101': '27', '102': '31' } });
    const created = await t.request('POST', `/v1/tenants/${tenant.id}/pbx-sources`, {
      body: {
        type: 'vats',
        config: { apiUrl: api.url },
        credentials: { crmToken: CRM_TOKEN, apiKey: API_KEY },
      },
    });
    expect(created.status).toBe(201);
    expect(JSON.stringify(created.body)).not.toContain(CRM_TOKEN);
    sourceId = created.body.id;
    pbx = new VatsPbx({ crmUrl: `${t.url}/v1/pbx/${tenant.id}/vats`, crmToken: CRM_TOKEN, api });
  }, 60000);
  afterAll(async () => {
    await t?.close();
    await api.stop();
    await sandbox.stop();
  });

  const endedCall = (callId: string) =>
    eventually(
      () => t.request('GET', `/v1/tenants/${tenant.id}/calls/${callId}`),
      (r) =>
        r.status === 200 &&
        r.body.status === 'ended' &&
        r.body.events.every((e: { processed: boolean }) => e.processed),
      15000,
    );

  it("answers cmd=contact with the client's name and manager, pops, and logs the call with its recording", async () => {
    const call = await pbx.inboundAnswered({
      phone: ANNA,
      diversion: LINE,
      user: 'ivanov',
      ext: '101',
      durationS: 95,
      recorded: true,
    });
    const contact = call.replies[0];
    expect(contact.status).toBe(200);
    expect(contact.body).toEqual({ contact_name: 'Anna', responsible: '101' });
    expect(call.replies.every((r) => r.status === 200)).toBe(true);

    const res = await endedCall(call.callid);
    expect(res.body).toMatchObject({
      direction: 'inbound',
      from: '+79161234567',
      to: '+74951234567',
      result: 'answered',
      answeredBy: '101',
      extension: '101',
      duration: 95,
      recordingUrl: api.recordingUrl(call.callid),
    });
    await eventually(
      async () => sandbox.uploadedCalls.get(call.callid),
      (logged) => logged !== undefined,
      15000,
    );
    const pops = sandbox.events.filter((e) => e.callExternalId === call.callid && e.type === 'in');
    expect(pops).toHaveLength(1);
    expect(pops[0]).toMatchObject({ phone: ANNA, codes: ['101'] });
    const logged = sandbox.uploadedCalls.get(call.callid)!;
    expect(logged).toMatchObject({ type: 'in', code: '101', result: 'answered', duration: 95 });
    // The CRM gets the hub's own link; the hub streams the PBX's file behind it.
    const audio = await t.request('GET', new URL(String(logged.recordUrl)).pathname, {
      admin: false,
    });
    expect(audio.status).toBe(200);
    expect(audio.headers.get('content-type')).toBe('audio/mpeg');
  });

  it('answers {} for a caller the CRM does not know, so the PBX routes by itself', async () => {
    const reply = await pbx.contact({ phone: '79995550011', callid: 'c0ffee01', diversion: LINE });
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({});
  });

  it('ends a call nobody took as missed, having rung each employee', async () => {
    const call = await pbx.inboundMissed({
      phone: '79995550022',
      diversion: LINE,
      ring: [
        { user: 'ivanov', ext: '101' },
        { user: 'petrova', ext: '102' },
      ],
    });
    const res = await endedCall(call.callid);
    expect(res.body).toMatchObject({ result: 'missed', answeredBy: null, ringing: ['101', '102'] });
  });

  it('ends a transferred call with the employee it was handed to', async () => {
    const call = await pbx.transferred({
      phone: ANNA,
      diversion: LINE,
      from: { user: 'ivanov', ext: '101' },
      to: { user: 'petrova', ext: '102' },
      durationS: 40,
    });
    const res = await endedCall(call.callid);
    expect(res.body).toMatchObject({ result: 'answered', answeredBy: '101', extension: '102' });
    await eventually(
      async () => sandbox.uploadedCalls.get(call.callid),
      (logged) => logged !== undefined,
      15000,
    );
    expect(sandbox.uploadedCalls.get(call.callid)).toMatchObject({ code: '102' });
  });

  it('places click-to-call through makecall; the outbound call the PBX reports is logged', async () => {
    api.onMakecall = async (c, employee) => {
      await pbx.outbound({
        user: employee.login,
        ext: employee.ext,
        phone: c.phone,
        answered: true,
        durationS: 30,
        callid: c.callid,
      });
    };
    try {
      const res = await t.request('POST', `/v1/tenants/${tenant.id}/calls/originate`, {
        body: { extension: '101', to: '+79161234567' },
      });
      expect(res.status).toBe(202);
      await api.settled();
      expect(api.makecalls).toHaveLength(1);
      expect(api.makecalls[0]).toMatchObject({ user: '101', phone: ANNA });
      const made = api.requests.filter((r) => r.path.endsWith('/makecall'));
      expect(made.map((r) => r.apiKey)).toEqual([API_KEY]);
      const call = await endedCall(api.makecalls[0].callid);
      expect(call.body).toMatchObject({
        direction: 'outbound',
        from: '101',
        to: '+79161234567',
        result: 'answered',
        extension: '101',
      });
    } finally {
      api.onMakecall = undefined;
    }
  });

  it('says why a refused makecall failed', async () => {
    api.failMakecall = { status: 404, body: { error: 'user not found' } };
    try {
      const res = await t.request('POST', `/v1/tenants/${tenant.id}/calls/originate`, {
        body: { extension: '101', to: '+79161234567' },
      });
      expect(res.status).toBe(422);
      expect(res.body.message).toContain('user not found');
    } finally {
      api.failMakecall = undefined;
    }
  });

  it("lists the PBX's employees with extension and mobile for the agent map", async () => {
    const res = await t.request('GET', `/v1/tenants/${tenant.id}/pbx-sources/${sourceId}/users`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      { login: 'ivanov', name: 'Ivan Ivanov', extension: '101', mobile: '79031112233' },
      { login: 'petrova', name: 'Olga Petrova', extension: '102', mobile: null },
    ]);
  });

  it('refuses a wrong or missing crm_token with 401 and bad fields with 400 naming them', async () => {
    const wrong = await pbx.post('contact', { phone: ANNA, callid: 'x1' }, { crmToken: 'nope' });
    expect(wrong.status).toBe(401);
    const missing = await pbx.post('contact', { phone: ANNA, callid: 'x1' }, { crmToken: null });
    expect(missing.status).toBe(401);
    const otherTenant = await createTenant(t, { name: 'Other' });
    const elsewhere = new VatsPbx({
      crmUrl: `${t.url}/v1/pbx/${otherTenant.id}/vats`,
      crmToken: CRM_TOKEN,
    });
    expect((await elsewhere.contact({ phone: ANNA, callid: 'x2' })).status).toBe(401);

    const badTime = await pbx.post('history', {
      type: 'in',
      status: 'Success',
      phone: ANNA,
      start: '2024-05-14 07:15:02',
      duration: '5',
      callid: 'x3',
    });
    expect(badTime.status).toBe(400);
    expect(JSON.stringify(badTime.body)).toContain('start must be a UTC time');
    const badCmd = await pbx.post('dial' as never, { callid: 'x4' });
    expect(badCmd.status).toBe(400);
    expect(JSON.stringify(badCmd.body)).toContain('cmd must be one of');
    const [row] = await t.db.query(
      "SELECT COUNT(*) AS n FROM call_events WHERE tenant_id = ? AND call_id IN ('x1','x2','x3','x4')",
      [tenant.id],
    );
    expect(Number(row.n)).toBe(0);
  });
});
