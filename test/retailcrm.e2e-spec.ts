import { RetailcrmSandbox } from '../connectors/retailcrm/retailcrm.sandbox';
import { checkHubSignature } from '../src/tenants/hub-signature';
import { inboundCall as inboundCallEvents, InboundCallOptions } from './support/call-events';
import { FakePbxHttp } from './support/fake-pbx-http';
import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  startTestApp,
  TestApp,
} from './support/test-app';

const KNOWN = '+79161234567';

interface RegisteredModule {
  clientId: string;
  integrations: { telephony: { additionalCodes?: unknown[]; makeCallUrl?: string } };
}

const STARTED = Date.UTC(2026, 10, 25, 9, 0, 0);
const inboundCall = (callId: string, from: string, opts: InboundCallOptions = {}) =>
  inboundCallEvents(callId, from, { startedAt: STARTED, ...opts });

describe('RetailCRM end to end', () => {
  const sandbox = new RetailcrmSandbox();
  const pbx = new FakePbxHttp();
  let t: TestApp;
  let tenant: CreatedTenant;
  let integrationId: string;

  beforeAll(async () => {
    await sandbox.start();
    await pbx.start();
    t = await startTestApp({ HUB_PUBLIC_URL: 'http://127.0.0.1:1' });
    sandbox.addUser({ id: 27, firstName: 'Ivan', lastName: 'Petrov', code: '101' });
    sandbox.addUser({ id: 31, firstName: 'Olga', lastName: 'Sidorova', code: '102' });
    sandbox.addUser({
      id: 40,
      firstName: 'Pavel',
      email: 'pavel@example.com',
      phone: '+79035550040',
    });
    sandbox.addCustomer({
      id: 7,
      firstName: 'Anna',
      lastName: 'Smirnova',
      phones: ['8 916 123-45-67'],
      managerId: 27,
    });
    tenant = await createTenant(t, { name: 'Shop', routingBudgetMs: 400 });
    const created = await t.request('POST', `/v1/tenants/${tenant.id}/integrations`, {
      body: {
        connector: 'retailcrm',
        config: { url: sandbox.url },
        credentials: { apiKey: sandbox.apiKey },
      },
    });
    expect(created.status).toBe(201);
    integrationId = created.body.id;
    const agents = await t.request('PUT', `/v1/tenants/${tenant.id}/agents`, {
      body: [
        { extension: '101', name: 'Ivan', crmUsers: { [integrationId]: '27' } },
        { extension: '102', name: 'Olga', crmUsers: { [integrationId]: 31 } },
      ],
    });
    expect(agents.status).toBe(200);
    await t.request('POST', `/v1/tenants/${tenant.id}/pbx-sources`, {
      body: { type: 'generic', config: { originateUrl: `${pbx.url}/originate` } },
    });
  }, 60000);
  afterAll(async () => {
    await t.close();
    await sandbox.stop();
    await pbx.stop();
  });

  const call = (callId: string) => t.request('GET', `/v1/tenants/${tenant.id}/calls/${callId}`);
  const actionsOf = async (callId: string) => {
    const res = await call(callId);
    return (res.body?.integrations?.[0]?.actions ?? {}) as Record<
      string,
      { status: string; lastError: string | null }
    >;
  };
  const settled = (callId: string, names: string[]) =>
    eventually(
      () => actionsOf(callId),
      (a) => names.every((n) => a[n] && a[n].status !== 'pending'),
      20000,
    );
  const requestsTo = (path: string) => sandbox.requests.filter((r) => r.path.endsWith(path));

  it('refuses a wrong API key with a 422 naming the credential', async () => {
    const res = await t.request('POST', `/v1/tenants/${tenant.id}/integrations`, {
      body: {
        connector: 'retailcrm',
        config: { url: sandbox.url },
        credentials: { apiKey: 'wrong' },
      },
    });
    expect(res.status).toBe(422);
    expect(res.body.message).toContain('credentials.apiKey');
  });

  it('registers the telephony module with the agent map and hub callback URLs', async () => {
    const module = await eventually(
      async () => sandbox.modules.get('telephony-hub') as RegisteredModule | undefined,
      (m) => !!m && (m.integrations?.telephony?.additionalCodes ?? []).length === 2,
    );
    const telephony = module!.integrations.telephony;
    expect(telephony.additionalCodes).toEqual(
      expect.arrayContaining([
        { userId: 27, code: '101' },
        { userId: 31, code: '102' },
      ]),
    );
    expect(telephony.makeCallUrl).toBe(
      `http://127.0.0.1:1/v1/crm/retailcrm/${integrationId}/make-call`,
    );
    expect(telephony).toMatchObject({
      inputEventSupported: true,
      outputEventSupported: true,
      hangupEventSupported: true,
    });
    expect(module!.clientId).toMatch(/^[A-Za-z0-9_-]{24,}$/);
  });

  it('lists the account users with their extensions from the agent map', async () => {
    const res = await t.request(
      'GET',
      `/v1/tenants/${tenant.id}/integrations/${integrationId}/users`,
    );
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      { crmUserId: '27', name: 'Ivan Petrov', extension: '101' },
      { crmUserId: '31', name: 'Olga Sidorova', extension: '102' },
      { crmUserId: '40', name: 'Pavel', email: 'pavel@example.com', mobile: '+79035550040' },
    ]);
  });

  it('routes a known caller to the responsible manager, then answers from the cache', async () => {
    const res = await t.request('POST', `/v1/pbx/${tenant.id}/route`, {
      body: { callId: 'route-1', from: '89161234567' },
      headers: { 'x-api-key': tenant.apiKey },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      extension: '101',
      reason: 'responsible',
      contact: { id: '7' },
    });
    const before = sandbox.requests.length;
    const text = await t.request('POST', `/v1/pbx/${tenant.id}/route?format=text`, {
      body: { callId: 'route-2', from: KNOWN },
      headers: { 'x-api-key': tenant.apiKey },
    });
    expect(text.text).toBe('101');
    expect(text.headers.get('content-type')).toContain('text/plain');
    expect(sandbox.requests.length).toBe(before);
    const unknown = await t.request('POST', `/v1/pbx/${tenant.id}/route`, {
      body: { callId: 'route-3', from: '+79990000001' },
      headers: { 'x-api-key': tenant.apiKey },
    });
    expect(unknown.body).toEqual({ extension: null, reason: 'unknown_caller' });
  });

  it("answers a dialplan's CURL() form post with the bare extension", async () => {
    const res = await t.request('POST', `/v1/pbx/${tenant.id}/route?format=text`, {
      rawBody: 'callId=1716000000.12&from=89161234567&to=74957654321',
      headers: { 'x-api-key': tenant.apiKey, 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(res.status).toBe(200);
    expect(res.text).toBe('101');
  });

  it('answers within the budget when the CRM hangs', async () => {
    sandbox.hangNext(2, 3000);
    const started = Date.now();
    const res = await t.request('POST', `/v1/pbx/${tenant.id}/route`, {
      body: { callId: 'route-4', from: '+79990000002' },
      headers: { 'x-api-key': tenant.apiKey },
    });
    expect(Date.now() - started).toBeLessThan(400 + 300);
    expect(res.body).toEqual({ extension: null, reason: 'crm_timeout' });
  });

  it('re-queues a failed log on retry, once, and never a done action', async () => {
    const at = (s: number) => new Date(STARTED + s * 1000).toISOString();
    const ev = { callId: 'call-retry', direction: 'inbound', from: KNOWN, to: '+74957654321' };
    sandbox.failNext(1, {
      status: 400,
      body: { success: false, errorMsg: 'Calls are not uploaded' },
    });
    await postEvents(t, tenant, {
      events: [
        { ...ev, id: 'r1', type: 'call.answered', extension: '101', at: at(5) },
        { ...ev, id: 'r2', type: 'call.ended', result: 'answered', duration: 30, at: at(35) },
      ],
    });
    const failed = await settled('call-retry', ['log']);
    expect(failed.log).toMatchObject({ status: 'failed' });
    expect(sandbox.uploadedCalls.has('call-retry')).toBe(false);

    const retry = (body: unknown) =>
      t.request('POST', `/v1/tenants/${tenant.id}/calls/call-retry/retry`, { body });
    const requeued = await retry({ integrationId, actions: ['log'] });
    expect(requeued.status).toBe(202);
    expect(requeued.body).toEqual({ requeued: 1 });
    await eventually(
      async () => (await actionsOf('call-retry')).log?.status,
      (status) => status === 'done',
      15000,
    );
    expect(sandbox.uploadArrivals.get('call-retry')).toBe(1);
    // Done: a second retry finds nothing to do, and nothing is sent again.
    expect((await retry({})).body).toEqual({ requeued: 0 });
    expect(sandbox.uploadArrivals.get('call-retry')).toBe(1);

    expect(
      (await t.request('POST', `/v1/tenants/${tenant.id}/calls/nope/retry`, { body: {} })).status,
    ).toBe(404);
    const bad = await retry({ actions: ['dance'] });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('actions');
  });

  it('pops the card for the transfer target, closes it for the agent who left, logs the target', async () => {
    const at = (s: number) => new Date(STARTED + s * 1000).toISOString();
    const ev = (n: number, type: string, s: number, extra: Record<string, unknown> = {}) => ({
      id: `xfer-${n}`,
      callId: 'call-xfer',
      type,
      direction: 'inbound',
      from: KNOWN,
      to: '+74957654321',
      at: at(s),
      ...extra,
    });
    const eventsOf = (type: string) =>
      sandbox.events.filter((e) => e.callExternalId === 'call-xfer' && e.type === type);
    await postEvents(t, tenant, {
      events: [
        ev(1, 'call.started', 0),
        ev(2, 'call.ringing', 1, { extension: '101' }),
        ev(3, 'call.answered', 5, { extension: '101' }),
      ],
    });
    await eventually(
      async () => eventsOf('in'),
      (pops) => pops.length === 1,
    );
    await postEvents(t, tenant, { events: [ev(4, 'call.transferred', 30, { extension: '102' })] });
    // While the call goes on: Olga's card pops, Ivan's closes.
    const pops = await eventually(
      async () => eventsOf('in'),
      (p) => p.length === 2,
    );
    expect(pops[1]).toMatchObject({ codes: ['102'] });
    const left = await eventually(
      async () => eventsOf('hangup'),
      (h) => h.length === 1,
    );
    expect(left[0]).toMatchObject({ codes: ['101'], hangupStatus: 'answered' });
    expect((await call('call-xfer')).body.status).toBe('answered');

    await postEvents(t, tenant, {
      events: [ev(5, 'call.ended', 120, { result: 'answered', duration: 115, extension: '102' })],
    });
    await settled('call-xfer', ['hangup', 'log']);
    const hangups = await eventually(
      async () => eventsOf('hangup'),
      (h) => h.length === 2,
    );
    expect(hangups[1]).toMatchObject({ hangupStatus: 'answered' });
    expect(hangups[1].codes).toEqual(expect.arrayContaining(['102']));
    expect(sandbox.uploadedCalls.get('call-xfer')).toMatchObject({
      code: '102',
      result: 'answered',
    });
  });

  it('pops, closes and logs an answered call of a known client with its recording', async () => {
    const rec = `${pbx.url}/rec/call-a.mp3`;
    const c = inboundCall('call-a', KNOWN, {
      answeredBy: '101',
      ring: ['101', '102'],
      recording: rec,
    });
    await postEvents(t, tenant, { events: c.start });
    await eventually(
      async () =>
        requestsTo('/telephony/call/event').filter(
          (r) => (r.form.event as { callExternalId?: string }).callExternalId === 'call-a',
        ),
      (r) => r.length === 1,
    );
    await postEvents(t, tenant, { events: c.end });
    const actions = await settled('call-a', ['pop', 'hangup', 'log']);
    expect(actions.pop.status).toBe('done');
    expect(actions.hangup.status).toBe('done');
    expect(actions.log.status).toBe('done');
    expect(actions.lead).toBeUndefined();

    const events = sandbox.events.filter((e) => e.callExternalId === 'call-a');
    expect(events.map((e) => e.type)).toEqual(['in', 'hangup']);
    expect(events[0]).toMatchObject({
      phone: '79161234567',
      codes: ['101', '102'],
      userIds: [27, 31],
    });
    expect(events[1]).toMatchObject({ hangupStatus: 'answered' });
    expect(sandbox.uploadArrivals.get('call-a')).toBe(1);
    const logged = sandbox.uploadedCalls.get('call-a')!;
    expect(logged).toMatchObject({
      type: 'in',
      phone: '79161234567',
      code: '101',
      result: 'answered',
      duration: 60,
      externalId: 'call-a',
    });
    expect(String(logged.recordUrl)).toMatch(/^http:\/\/127\.0\.0\.1:1\/v1\/recordings\//);

    // The CRM fetches the link without credentials; the hub streams the PBX file.
    const path = new URL(String(logged.recordUrl)).pathname;
    const audio = await t.request('GET', path, { admin: false });
    expect(audio.status).toBe(200);
    expect(audio.headers.get('content-type')).toBe('audio/mpeg');
    expect(audio.text).toBe('ID3-fake-mp3-of-/rec/call-a.mp3');
    const forged = await t.request(
      'GET',
      path.replace(/.$/, (ch) => (ch === 'A' ? 'B' : 'A')),
      { admin: false },
    );
    expect(forged.status).toBe(404);
  });

  it('pops once for a ring group of 60 extensions and closes the card for all of them', async () => {
    const ring = Array.from({ length: 60 }, (_, i) => String(2000 + i));
    const c = inboundCall('call-group', KNOWN, { answeredBy: '2007', ring });
    await postEvents(t, tenant, { events: c.start });
    await eventually(
      async () => sandbox.events.filter((e) => e.callExternalId === 'call-group'),
      (e) => e.length >= 1,
    );
    await postEvents(t, tenant, { events: c.end });
    const actions = await settled('call-group', ['pop', 'hangup', 'log']);
    expect(actions.pop.status).toBe('done');
    expect(actions.hangup.status).toBe('done');
    // A retried pop would show the card again: one "in" event for the group, one hangup.
    await new Promise((r) => setTimeout(r, 300));
    const events = sandbox.events.filter((e) => e.callExternalId === 'call-group');
    expect(events.map((e) => e.type)).toEqual(['in', 'hangup']);
    expect([...(events[0].codes as string[])].sort()).toEqual(ring);
    expect([...(events[1].codes as string[])].sort()).toEqual(ring);
  });

  it('turns an unknown missed caller into exactly one task, whatever is re-sent', async () => {
    const c = inboundCall('call-b', '+79995550011');
    await postEvents(t, tenant, { events: [...c.start, ...c.end] });
    const actions = await settled('call-b', ['lead', 'log']);
    expect(actions.lead.status).toBe('done');
    // The whole call arrived at once, already ended: no card pops for it.
    expect(actions.pop).toBeUndefined();
    expect(
      sandbox.events.filter((e) => e.callExternalId === 'call-b' && e.type === 'in'),
    ).toHaveLength(0);
    await postEvents(t, tenant, { events: [...c.start, ...c.end] });
    await postEvents(t, tenant, { events: c.end.map((e) => ({ ...e, id: `${e.id}-dup` })) });
    await new Promise((r) => setTimeout(r, 500));
    const tasks = sandbox.tasks.filter((task) => String(task.phone ?? '').includes('79995550011'));
    expect(tasks).toHaveLength(1);
    expect(
      requestsTo('/telephony/calls/upload').filter((r) =>
        (r.form.calls as { externalId: string }[]).some((x) => x.externalId === 'call-b'),
      ),
    ).toHaveLength(1);
  });

  it('never pops after hangup and logs a late-delivered call once', async () => {
    const c = inboundCall('call-c', KNOWN, { answeredBy: '102', ring: ['102'] });
    // The end arrives before the ringing: the card must not pop.
    await postEvents(t, tenant, { events: c.end });
    await postEvents(t, tenant, { events: c.start });
    const actions = await settled('call-c', ['log']);
    expect(actions.log.status).toBe('done');
    await new Promise((r) => setTimeout(r, 300));
    expect(
      sandbox.events.filter((e) => e.callExternalId === 'call-c' && e.type === 'in'),
    ).toHaveLength(0);
  });

  it('logs every call after an 8 s CRM outage, none doubled', async () => {
    sandbox.setOutage(8000);
    const ids = Array.from({ length: 5 }, (_, i) => `outage-${i}`);
    for (const id of ids) {
      const c = inboundCall(id, KNOWN, { answeredBy: '101' });
      await postEvents(t, tenant, { events: [...c.start, ...c.end] });
    }
    for (const id of ids) {
      const a = await settled(id, ['log']);
      expect(a.log.status).toBe('done');
    }
    for (const id of ids) {
      const uploads = requestsTo('/telephony/calls/upload').filter((r) =>
        (r.form.calls as { externalId: string }[]).some((x) => x.externalId === id),
      );
      expect(uploads.length).toBeGreaterThanOrEqual(1);
      expect(sandbox.uploadedCalls.has(id)).toBe(true);
      // Requests refused during the outage do not count; once it was over, one upload each.
      expect([id, sandbox.uploadArrivals.get(id)]).toEqual([id, 1]);
    }
  }, 60000);

  it('logs a burst of 60 calls without exceeding the CRM limits', async () => {
    const ids = Array.from({ length: 60 }, (_, i) => `burst-${i}`);
    const events = ids.flatMap((id) => {
      const c = inboundCall(id, KNOWN, { answeredBy: '101' });
      return [...c.start, ...c.end];
    });
    for (let i = 0; i < events.length; i += 100)
      await postEvents(t, tenant, { events: events.slice(i, i + 100) });
    await eventually(
      async () => ids.filter((id) => sandbox.uploadedCalls.has(id)).length,
      (n) => n === 60,
      45000,
    );
    expect(ids.filter((id) => sandbox.uploadedCalls.has(id))).toHaveLength(60);
    expect(ids.filter((id) => sandbox.uploadArrivals.get(id) !== 1)).toEqual([]);
    expect(sandbox.rateLimitRejections).toBe(0);
    expect(sandbox.maxPerSecondObserved('default')).toBeLessThanOrEqual(10);
    expect(sandbox.maxPerSecondObserved('telephony')).toBeLessThanOrEqual(40);
  }, 60000);

  it('starts a call when RetailCRM asks for one, and refuses a wrong clientId', async () => {
    const module = sandbox.modules.get('telephony-hub') as unknown as RegisteredModule;
    const path = `/v1/crm/retailcrm/${integrationId}/make-call`;
    const ok = await t.request(
      'GET',
      `${path}?clientId=${module.clientId}&code=101&phone=89161234567&userId=27`,
      { admin: false },
    );
    expect(ok.status).toBe(200);
    expect(pbx.originates).toHaveLength(1);
    const sent = pbx.originates[0];
    expect(JSON.parse(sent.raw)).toMatchObject({ extension: '101', to: '+79161234567' });
    const check = checkHubSignature(
      tenant.webhookSecret,
      String(sent.headers['x-hub-timestamp']),
      String(sent.headers['x-hub-signature']),
      Buffer.from(sent.raw),
      Math.floor(Date.now() / 1000),
    );
    expect(check).toBe('ok');
    const bad = await t.request('GET', `${path}?clientId=guess&code=101&phone=89161234567`, {
      admin: false,
    });
    expect(bad.status).toBe(403);
    expect(pbx.originates).toHaveLength(1);
  });

  it('originates through the API for the tenant', async () => {
    const res = await t.request('POST', `/v1/tenants/${tenant.id}/calls/originate`, {
      body: { extension: '102', to: '8 (495) 123-45-67' },
      headers: { 'x-api-key': tenant.apiKey },
    });
    expect(res.status).toBe(202);
    expect(JSON.parse(pbx.originates[pbx.originates.length - 1].raw)).toMatchObject({
      extension: '102',
      to: '+74951234567',
    });
  });
});
