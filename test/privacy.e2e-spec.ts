import { RetailcrmSandbox } from '../connectors/retailcrm/retailcrm.sandbox';
import { FakePbxHttp } from './support/fake-pbx-http';
import { connectRetailcrm } from './support/retailcrm';
import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  startTestApp,
  TestApp,
  TestResponse,
} from './support/test-app';

const FRESH_S = 2;
const ANNA = '+79161234567';
const IVAN_MOBILE = '+79031112233';

/**
 * Privacy mode, played as a real-estate agency's day: agents see client codes, call clients
 * back by code only on recorded calls, reassigned clients reach their new agent, and the owner
 * reads it all in the audit.
 */
describe('privacy mode: an agency day', () => {
  const sandbox = new RetailcrmSandbox();
  const pbxHttp = new FakePbxHttp();
  let t: TestApp;
  let tenant: CreatedTenant;

  beforeAll(async () => {
    await sandbox.start();
    await pbxHttp.start();
    sandbox.addUser({ id: 27, firstName: 'Ivan', code: '101' });
    sandbox.addUser({ id: 31, firstName: 'Olga', code: '102' });
    sandbox.addCustomer({ id: 7, firstName: 'Anna', phones: [ANNA], managerId: 27 });
    t = await startTestApp({ HUB_CONTACT_FRESH_S: String(FRESH_S) });
    tenant = await createTenant(t, { name: 'Agency', routingBudgetMs: 500 });
    const id = await connectRetailcrm(t, tenant.id, sandbox);
    const agents = await t.request('PUT', `/v1/tenants/${tenant.id}/agents`, {
      body: [
        { extension: '101', name: 'Ivan', mobile: IVAN_MOBILE, crmUsers: { [id]: '27' } },
        { extension: '102', name: 'Olga', crmUsers: { [id]: '31' } },
      ],
    });
    expect(agents.status).toBe(200);
  }, 60000);
  afterAll(async () => {
    await t?.close();
    await sandbox.stop();
    await pbxHttp.stop();
  });

  const route = (callId: string, from: string): Promise<TestResponse> =>
    t.request('POST', `/v1/pbx/${tenant.id}/route`, {
      body: { callId, from },
      headers: { 'x-api-key': tenant.apiKey },
    });
  const resolve = (body: Record<string, unknown>, query = ''): Promise<TestResponse> =>
    t.request('POST', `/v1/pbx/${tenant.id}/resolve${query}`, {
      body,
      headers: { 'x-api-key': tenant.apiKey },
    });
  const setPrivacy = (clientCodes: boolean) =>
    t.request('PATCH', `/v1/tenants/${tenant.id}`, { body: { privacy: { clientCodes } } });
  let code = '';
  let other = '';

  it('changes nothing while privacy mode is off', async () => {
    const res = await route('off-1', '8 916 123-45-67');
    expect(res.body).toMatchObject({ extension: '101', reason: 'responsible' });
    expect(res.body).not.toHaveProperty('display');
    expect(res.body).not.toHaveProperty('callerName');
    const refused = await resolve({ extension: '101', code: '123456', recorded: true });
    expect(refused.status).toBe(403);
    expect(refused.body.message).toContain('privacy mode is off');
  });

  it('tells the PBX the client code, never the number, and gives the call the code', async () => {
    const on = await setPrivacy(true);
    expect(on.status).toBe(200);
    expect(on.body.privacy).toEqual({ clientCodes: true });

    const res = await route('day-1', '8 916 123-45-67');
    expect(res.body).toMatchObject({ extension: '101', reason: 'responsible' });
    code = res.body.display;
    expect(code).toMatch(/^\d{6}$/);
    expect(ANNA.replace(/\D/g, '')).not.toContain(code);
    expect(res.body.callerName).toBe(`Client ${code}`);
    expect(JSON.stringify(res.body)).not.toContain('9161234567');
    // Stable: the same client keeps the code; another client gets another.
    expect((await route('day-2', ANNA)).body.display).toBe(code);
    other = (await route('day-3', '+79995550011')).body.display;
    expect(other).toMatch(/^\d{6}$/);
    expect(other).not.toBe(code);

    // The PBX forwards the call to Ivan's mobile, which answers.
    const at = (s: number) => new Date(Date.now() - 60_000 + s * 1000).toISOString();
    const base = { callId: 'day-1', direction: 'inbound', from: ANNA, to: '+74957654321' };
    await postEvents(t, tenant, {
      events: [
        { ...base, id: 'd1', type: 'call.started', at: at(0) },
        { ...base, id: 'd2', type: 'call.ringing', extension: IVAN_MOBILE, at: at(1) },
        { ...base, id: 'd3', type: 'call.answered', extension: IVAN_MOBILE, at: at(5) },
        {
          ...base,
          id: 'd4',
          type: 'call.ended',
          result: 'answered',
          duration: 40,
          recordingUrl: 'http://127.0.0.1:1/rec/day-1.mp3',
          at: at(45),
        },
      ],
    });
    const call = await eventually(
      () => t.request('GET', `/v1/tenants/${tenant.id}/calls/day-1`),
      (r) => r.body.status === 'ended',
    );
    expect(call.body).toMatchObject({ answeredBy: '101', clientCode: code });
    // A number no route was asked for (an agent's outbound call) gets a code as well.
    await postEvents(t, tenant, {
      events: [
        {
          id: 'o1',
          callId: 'day-out',
          type: 'call.ended',
          direction: 'outbound',
          from: '102',
          to: '+79990001122',
          extension: '102',
          result: 'answered',
          duration: 12,
          at: at(50),
        },
      ],
    });
    const outbound = await eventually(
      () => t.request('GET', `/v1/tenants/${tenant.id}/calls/day-out`),
      (r) => r.status === 200 && typeof r.body.clientCode === 'string',
    );
    expect(outbound.body.clientCode).toMatch(/^\d{6}$/);
    expect([code, other]).not.toContain(outbound.body.clientCode);
    const list = await t.request('GET', `/v1/tenants/${tenant.id}/calls?limit=10`);
    expect(list.body.items.find((c: { callId: string }) => c.callId === 'day-1').clientCode).toBe(
      code,
    );
  });

  it("names the client by code in the text it writes into the CRM (a missed call's task)", async () => {
    const at = (s: number) => new Date(Date.now() - 60_000 + s * 1000).toISOString();
    const base = {
      callId: 'day-miss',
      direction: 'inbound',
      from: '+79995550011',
      to: '+74957654321',
    };
    await postEvents(t, tenant, {
      events: [
        { ...base, id: 'm1', type: 'call.ringing', extension: '102', at: at(0) },
        { ...base, id: 'm2', type: 'call.ended', result: 'missed', duration: 0, at: at(20) },
      ],
    });
    const task = await eventually(
      async () => sandbox.tasks.find((x) => String(x.commentary ?? '').includes('day-miss')),
      (x) => x !== undefined,
      15000,
    );
    expect(String(task!.text)).toContain(`Missed call from client ${other}`);
    expect(String(task!.text)).not.toContain('9995550011');
  });

  it('gives an agent the number only for a recorded call, and audits every answer', async () => {
    const granted = await resolve({ extension: '101', code, callId: 'cb-1', recorded: true });
    expect(granted.status).toBe(200);
    expect(granted.body).toEqual({ number: ANNA });
    // As Asterisk's CURL() asks: form fields, a bare number back.
    const text = await t.request('POST', `/v1/pbx/${tenant.id}/resolve?format=text`, {
      rawBody: `extension=101&code=${code}&callId=cb-0&recorded=true`,
      headers: {
        'x-api-key': tenant.apiKey,
        'content-type': 'application/x-www-form-urlencoded',
      },
    });
    expect([text.status, text.text]).toEqual([200, ANNA]);

    const unrecorded = await resolve({ extension: '101', code, callId: 'cb-2', recorded: false });
    expect(unrecorded.status).toBe(403);
    expect(unrecorded.body.message).toContain('not recorded');
    const stranger = await resolve({ extension: '105', code, recorded: true });
    expect(stranger.status).toBe(403);
    expect(stranger.body.message).toContain('extension 105 is not an agent');
    const unknown = await resolve({ extension: '102', code: '000000', recorded: true });
    expect(unknown.status).toBe(404);
    const bad = await resolve({ extension: '102', code: '12ab', recorded: true });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('code must be a client code');

    // A flood from one extension is cut off within the minute.
    const flood: number[] = [];
    // Enough that a minute boundary falling inside the flood still leaves one side over the limit.
    for (let i = 0; i < 25; i++)
      flood.push((await resolve({ extension: '102', code, recorded: true })).status);
    expect(flood.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(flood.slice(0, 9).every((s) => s === 200)).toBe(true);

    const audit = await t.request('GET', `/v1/tenants/${tenant.id}/audit?clientCode=${code}`);
    expect(audit.status).toBe(200);
    const items = audit.body.items as {
      extension: string;
      granted: boolean;
      reason: string;
      callId: string | null;
    }[];
    expect(items.find((i) => i.callId === 'cb-1')).toMatchObject({
      extension: '101',
      granted: true,
    });
    expect(items.find((i) => i.callId === 'cb-2')).toMatchObject({
      granted: false,
      reason: expect.stringContaining('not recorded'),
    });
    expect(items.some((i) => i.extension === '105' && !i.granted)).toBe(true);
    expect(items.some((i) => i.reason.includes('more than 10 times in a minute'))).toBe(true);
    // Only this client's: the unknown code's refusal is not in it.
    expect(
      items.every((i) => i.extension !== '102' || i.reason !== 'no client has the code 000000'),
    ).toBe(true);
    // The owner's timeline of the client: the call with its recording, by code, no number.
    const timeline = audit.body.calls as Record<string, unknown>[];
    expect(timeline.map((c) => c.callId)).toEqual(['day-1']);
    expect(timeline[0]).toMatchObject({ clientCode: code, answeredBy: '101', from: null });
    expect(String(timeline[0].recordingLink)).toContain('/v1/recordings/');
    expect(JSON.stringify(audit.body)).not.toContain('9161234567');
    const none = await t.request(
      'GET',
      `/v1/tenants/${tenant.id}/audit?clientCode=${code}&from=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`,
    );
    expect(none.body.items).toEqual([]);
  });

  it('places click-to-call by code only through a source that records every call', async () => {
    const created = await t.request('POST', `/v1/tenants/${tenant.id}/pbx-sources`, {
      body: { type: 'generic', config: { originateUrl: `${pbxHttp.url}/originate` } },
    });
    expect(created.status).toBe(201);
    const originate = (body: Record<string, unknown>) =>
      t.request('POST', `/v1/tenants/${tenant.id}/calls/originate`, { body });
    const unrecorded = await originate({ extension: '101', code });
    expect(unrecorded.status).toBe(403);
    expect(unrecorded.body.message).toContain('not recorded');
    expect(pbxHttp.originates).toHaveLength(0);
    const both = await originate({ extension: '101', code, to: ANNA });
    expect(both.status).toBe(400);

    await t.request('PATCH', `/v1/tenants/${tenant.id}/pbx-sources/${created.body.id}`, {
      body: { config: { originateUrl: `${pbxHttp.url}/originate`, recordsAllCalls: true } },
    });
    const placed = await originate({ extension: '101', code });
    expect(placed.status).toBe(202);
    expect(JSON.stringify(placed.body)).not.toContain('9161234567');
    expect(JSON.parse(pbxHttp.originates.at(-1)!.raw)).toMatchObject({
      extension: '101',
      to: ANNA,
    });
    const audit = await t.request('GET', `/v1/tenants/${tenant.id}/audit?clientCode=${code}`);
    const byClick = (audit.body.items as { action: string; granted: boolean }[]).filter(
      (i) => i.action === 'originate',
    );
    expect(byClick.map((i) => i.granted)).toEqual([true, false]);
  });

  it("sends a reassigned client's next call to the new manager once the contact is not fresh", async () => {
    expect((await route('re-1', ANNA)).body.extension).toBe('101');
    sandbox.customers.get(7)!.managerId = 31;
    const changedAt = Date.now();
    const moved = await eventually(
      () => route(`re-${Date.now()}`, ANNA),
      (r) => r.body.extension === '102',
      (FRESH_S + 5) * 1000 + 3000,
    );
    expect(moved.body).toMatchObject({ extension: '102', reason: 'responsible', display: code });
    // The hub's copy in front of the shared cache adds at most 5 s to the freshness.
    expect(Date.now() - changedAt).toBeLessThan((FRESH_S + 5) * 1000 + 2000);
  });
});
