import { Bitrix24Sandbox } from '../connectors/bitrix24/bitrix24.sandbox';
import { SecretBox } from '../src/common/secret-box';
import type { TokenSet } from '../src/connector-sdk';
import { inboundCall } from './support/call-events';
import { FakePbxHttp } from './support/fake-pbx-http';
import { freePort } from './support/hub-process';
import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  startTestApp,
  TestApp,
} from './support/test-app';

const ANNA = '+79161234567';
const PETR = '+79035550011';
const UNKNOWN = '+74990001122';
const LINE = '+74957654321';

type Actions = Record<string, { status: string; lastError: string | null; externalId?: string }>;

/**
 * Bitrix24 end to end through the hub, against the portal sandbox: connected by the local
 * application's install event, lines and click-to-call bound; a ring group popped and the
 * cards hidden for those who did not answer; the call finished once on its CALL_ID with the
 * answering agent and its recording; leads for missed and unknown callers, exactly one each;
 * click-to-call finished on the CALL_ID Bitrix24 registered; an off-shift manager skipped;
 * a lapsed subscription shown as needs_reauth with nothing lost.
 */
describe('Bitrix24 through the hub', () => {
  const b24 = new Bitrix24Sandbox();
  const pbx = new FakePbxHttp();
  let t: TestApp;
  let tenant: CreatedTenant;
  let integrationId: string;

  const path = () => `/v1/tenants/${tenant.id}/integrations/${integrationId}`;
  const installUrl = () => `${t.url}/v1/crm/bitrix24/${integrationId}/install`;
  const actionsOf = async (callId: string): Promise<Actions | undefined> => {
    const res = await t.request('GET', `/v1/tenants/${tenant.id}/calls/${callId}`);
    return res.body?.integrations?.[0]?.actions as Actions | undefined;
  };
  const settled = (callId: string, ...actions: string[]) =>
    eventually(
      () => actionsOf(callId),
      (a) => actions.every((k) => a?.[k] && a[k].status !== 'pending'),
      20000,
    );
  const registersOf = (callId: string) =>
    b24.calls().filter((c) => c.origin === 'register' && c.externalCallId === callId);

  beforeAll(async () => {
    b24.addUser({ id: 11, name: 'Ivan', lastName: 'Petrov', extension: '101' });
    b24.addUser({
      id: 12,
      name: 'Olga',
      lastName: 'Orlova',
      extension: '102',
      mobile: '+79990000102',
    });
    b24.addUser({ id: 13, name: 'Oleg', lastName: 'Sidorov', extension: '103' });
    b24.addContact({
      id: 797,
      name: 'Anna Smirnova',
      phones: ['8 (916) 123-45-67'],
      assignedById: 12,
    });
    b24.addContact({
      id: 798,
      name: 'Petr Ivanov',
      phones: ['+7 903 555-00-11'],
      assignedById: 13,
    });
    await Promise.all([b24.start(), pbx.start()]);
    // Bitrix24 downloads recordings from the hub's links: they must point at this hub.
    const port = await freePort();
    t = await startTestApp({ HUB_PORT: String(port), HUB_PUBLIC_URL: `http://127.0.0.1:${port}` });
    tenant = await createTenant(t, { name: 'Bitrix shop', routingBudgetMs: 1500 });
    const source = await t.request('POST', `/v1/tenants/${tenant.id}/pbx-sources`, {
      body: { type: 'generic', config: { originateUrl: `${pbx.url}/originate` } },
    });
    expect(source.status).toBe(201);
  }, 60000);
  afterAll(async () => {
    await t?.close();
    await Promise.all([b24.stop(), pbx.stop()]);
  });

  it('starts at needs_auth and is connected by the install event, which registers lines and binds click-to-call', async () => {
    const created = await t.request('POST', `/v1/tenants/${tenant.id}/integrations`, {
      body: {
        connector: 'bitrix24',
        config: { portalUrl: b24.url, oauthUrl: b24.url, lines: [LINE.slice(1)] },
        credentials: { clientId: b24.clientId, clientSecret: b24.clientSecret },
      },
    });
    expect(created.status).toBe(201);
    expect(created.body.status).toBe('needs_auth');
    integrationId = created.body.id;

    // An install from another address than the portal, or with a token the portal does not
    // know, is refused and changes nothing.
    const elsewhere = await b24.install(installUrl(), {
      clientEndpoint: 'http://127.0.0.2:9/rest/',
    });
    expect(elsewhere.status).toBe(403);
    const forged = await t.request('POST', `/v1/crm/bitrix24/${integrationId}/install`, {
      rawBody: new URLSearchParams({
        event: 'ONAPPINSTALL',
        'auth[access_token]': 'forged-token',
        'auth[refresh_token]': 'forged-refresh',
        'auth[client_endpoint]': `${b24.url}/rest/`,
        'auth[member_id]': b24.memberId,
        'auth[application_token]': 'forged-app-token',
      }).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      admin: false,
    });
    expect(forged.status).toBe(401);
    expect((await t.request('GET', path())).body.status).toBe('needs_auth');

    const installed = await b24.install(installUrl());
    expect(installed.status).toBe(200);
    expect((await t.request('GET', path())).body).toMatchObject({
      status: 'connected',
      statusMessage: null,
    });
    const [row] = await t.db.query('SELECT tokens_enc FROM integrations WHERE id = ?', [
      integrationId,
    ]);
    // Sealed with the hub key for this row: the grant opens to what the install carried.
    const tokens = new SecretBox(t.config.encryptionKey).openJson<TokenSet>(
      row.tokens_enc,
      `integration:${integrationId}:tokens`,
    );
    expect(row.tokens_enc).toMatch(/^v1\./);
    expect(row.tokens_enc).not.toContain(tokens.accessToken);
    expect(tokens.extra).toMatchObject({
      clientEndpoint: `${b24.url}/rest/`,
      memberId: b24.memberId,
      applicationToken: b24.applicationToken,
    });

    await eventually(
      async () => ({ lines: b24.lines(), bindings: b24.bindings() }),
      (s) => s.lines.length === 1 && s.bindings.length === 1,
      10000,
    );
    expect(b24.lines()).toEqual([
      expect.objectContaining({
        NUMBER: '74957654321',
        NAME: 'Telephony hub',
        CRM_AUTO_CREATE: 'N',
      }),
    ]);
    // Another portal's install cannot take the integration over.
    expect((await b24.install(installUrl(), { memberId: 'another-portal' })).status).toBe(409);
    expect(b24.bindings()).toEqual([
      expect.objectContaining({
        event: 'ONEXTERNALCALLSTART',
        handler: `${t.config.publicUrl}/v1/crm/bitrix24/${integrationId}/events`,
      }),
    ]);
  });

  it("lists the portal's users with their internal numbers, and routes by them without an agent map", async () => {
    const users = await t.request('GET', `${path()}/users`);
    expect(users.status).toBe(200);
    expect(users.body).toEqual(
      expect.arrayContaining([
        { crmUserId: '12', name: 'Olga Orlova', extension: '102', mobile: '+79990000102' },
        expect.objectContaining({ crmUserId: '11', extension: '101' }),
      ]),
    );
    const route = await t.request('POST', `/v1/pbx/${tenant.id}/route`, {
      body: { callId: 'b-route', from: '8 (916) 123-45-67' },
      headers: { 'x-api-key': tenant.apiKey },
    });
    expect(route.body).toMatchObject({
      extension: '102',
      reason: 'responsible',
      contact: { id: '797', name: 'Anna Smirnova' },
    });
  });

  it('pops a ring group, hides the cards of those who did not answer, finishes once with the answerer and attaches the recording', async () => {
    const call = inboundCall('b-1', ANNA, {
      ring: ['101', '102', '103'],
      answeredBy: '102',
      recording: `${pbx.url}/rec/b-1.mp3`,
    });
    await postEvents(t, tenant, { events: call.start });
    await eventually(
      async () => registersOf('b-1').length && b24.cards(registersOf('b-1')[0].CALL_ID)?.shown,
      (shown) => Array.isArray(shown) && shown.length === 3,
      10000,
    );
    const [registered] = registersOf('b-1');
    expect(registered.params).toMatchObject({
      USER_ID: '11',
      PHONE_NUMBER: '79161234567',
      TYPE: '2',
      SHOW: '0',
      CRM_CREATE: '0',
      LINE_NUMBER: '74957654321',
    });

    await postEvents(t, tenant, { events: call.end });
    const actions = await settled('b-1', 'pop', 'hangup', 'log', 'recording');
    expect(actions).toMatchObject({
      pop: { status: 'done' },
      hangup: { status: 'done' },
      log: { status: 'done' },
      recording: { status: 'done' },
    });
    expect(registersOf('b-1')).toHaveLength(1);
    const cards = b24.cards(registered.CALL_ID);
    expect([...(cards?.shown ?? [])].sort()).toEqual([11, 12, 13]);
    expect([...(cards?.hidden ?? [])].sort()).toEqual([11, 13]);
    expect(cards?.showRequests).toBe(1);
    const finished = b24.statistics().filter((s) => s.CALL_ID === registered.CALL_ID);
    expect(finished).toHaveLength(1);
    expect(finished[0]).toMatchObject({
      PORTAL_USER_ID: 12,
      CALL_DURATION: 60,
      CALL_FAILED_CODE: '200',
      CRM_ENTITY_TYPE: 'CONTACT',
      CRM_ENTITY_ID: 797,
    });
    const record = b24.records(registered.CALL_ID);
    expect(record?.fileName).toMatch(/\.mp3$/);
    expect(record?.bytes.toString()).toContain('ID3-fake-mp3-of-/rec/b-1.mp3');
    expect(pbx.recordingFetches.filter((f) => f === '/rec/b-1.mp3').length).toBeGreaterThan(0);
    // Bitrix24 has no lead for a known client's answered call.
    expect(b24.leads()).toHaveLength(0);
  });

  it('makes one lead of a missed unknown caller, and finishes the call as missed', async () => {
    const call = inboundCall('b-2', UNKNOWN, { ring: ['101'] });
    await postEvents(t, tenant, { events: [...call.start, ...call.end] });
    const actions = await settled('b-2', 'lead', 'log');
    expect(actions?.lead.status).toBe('done');
    expect(actions?.log.status).toBe('done');
    const leads = b24.leads().filter((l) => l.ORIGIN_ID === 'b-2:lead');
    expect(leads).toHaveLength(1);
    expect(actions?.lead.externalId).toBe(String(leads[0].ID));
    const [registered] = registersOf('b-2');
    expect(b24.statistics().filter((s) => s.CALL_ID === registered.CALL_ID)).toEqual([
      expect.objectContaining({ CALL_FAILED_CODE: '304', CALL_DURATION: 0 }),
    ]);
  });

  it('lets Bitrix24 create the lead of an unknown caller at registration when leads are for unknown callers', async () => {
    const patched = await t.request('PATCH', path(), {
      body: { settings: { createLeadFor: 'unknown' } },
    });
    expect(patched.status).toBe(200);
    const before = b24.leads().length;
    const call = inboundCall('b-3', '+74990003344', { ring: ['101'], answeredBy: '101' });
    await postEvents(t, tenant, { events: call.start });
    await eventually(
      async () => registersOf('b-3').length,
      (n) => n === 1,
      10000,
    );
    expect(registersOf('b-3')[0].params.CRM_CREATE).toBe('1');
    await postEvents(t, tenant, { events: call.end });
    const actions = await settled('b-3', 'lead', 'log');
    expect(actions?.lead.status).toBe('done');
    expect(b24.leads()).toHaveLength(before + 1);
    const lead = b24.leads()[before];
    expect(actions?.lead.externalId).toBe(String(lead.ID));
    expect(registersOf('b-3')).toHaveLength(1);
    await t.request('PATCH', path(), { body: { settings: { createLeadFor: 'missed' } } });
  });

  it('places click-to-call from the clicking user and finishes it on the CALL_ID Bitrix24 registered', async () => {
    const wrong = await b24.clickToCall({ userId: 12, phone: ANNA, applicationToken: 'nope' });
    expect(wrong.deliveries).toEqual([expect.objectContaining({ status: 401 })]);
    expect(pbx.originates).toHaveLength(0);

    const clicked = await b24.clickToCall({ userId: 12, phone: ANNA });
    expect(clicked.deliveries).toEqual([expect.objectContaining({ status: 200 })]);
    expect(pbx.originates).toHaveLength(1);
    expect(JSON.parse(pbx.originates[0].raw)).toMatchObject({ extension: '102', to: ANNA });

    const registeredBefore = b24.calls().length;
    const at = (s: number) => new Date(Date.now() + s * 1000).toISOString();
    await postEvents(t, tenant, {
      events: [
        {
          id: 'c2c-s',
          callId: 'b-c2c',
          type: 'call.started',
          direction: 'outbound',
          from: '102',
          to: ANNA,
          extension: '102',
          at: at(0),
        },
        { id: 'c2c-a', callId: 'b-c2c', type: 'call.answered', extension: '102', at: at(5) },
        {
          id: 'c2c-e',
          callId: 'b-c2c',
          type: 'call.ended',
          result: 'answered',
          duration: 42,
          at: at(47),
        },
      ],
    });
    const actions = await settled('b-c2c', 'log');
    expect(actions?.log.status).toBe('done');
    expect(b24.calls()).toHaveLength(registeredBefore);
    expect(b24.statistics().filter((s) => s.CALL_ID === clicked.callId)).toEqual([
      expect.objectContaining({ PORTAL_USER_ID: 12, CALL_DURATION: 42, CALL_FAILED_CODE: '200' }),
    ]);
  });

  it('routes around a responsible manager who is off shift when the tenant asks, saying why', async () => {
    await t.request('PATCH', path(), { body: { config: { routeOnShiftOnly: true } } });
    b24.setTimeman(13, 'CLOSED');
    const route = await t.request('POST', `/v1/pbx/${tenant.id}/route`, {
      body: { callId: 'b-shift', from: PETR },
      headers: { 'x-api-key': tenant.apiKey },
    });
    expect(route.body).toMatchObject({
      extension: null,
      reason: 'no_agent',
      contact: { id: '798' },
      detail: expect.stringContaining('off shift'),
    });
  });

  it('refreshes an expired token once, and shows a lapsed subscription as needs_reauth, losing nothing', async () => {
    b24.expireAccessTokens();
    const refreshes = b24.refreshCount;
    const call = inboundCall('b-4', ANNA, { ring: ['102'], answeredBy: '102' });
    await postEvents(t, tenant, { events: [...call.start, ...call.end] });
    expect((await settled('b-4', 'log'))?.log.status).toBe('done');
    expect(b24.refreshCount).toBe(refreshes + 1);

    b24.paymentRequired(true);
    b24.expireAccessTokens();
    const late = inboundCall('b-5', ANNA, { ring: ['102'], answeredBy: '102' });
    await postEvents(t, tenant, { events: [...late.start, ...late.end] });
    const shown = await eventually(
      () => t.request('GET', path()),
      (r) => r.body.status === 'needs_reauth',
      20000,
    );
    expect(shown.body.statusMessage).toContain('PAYMENT_REQUIRED');
    expect((await actionsOf('b-5'))?.log.status).toBe('pending');

    // The admin renews the subscription and reinstalls: the waiting log goes out, once.
    b24.paymentRequired(false);
    expect((await b24.install(installUrl())).status).toBe(200);
    const resumed = await settled('b-5', 'log');
    expect(resumed?.log.status).toBe('done');
    expect(registersOf('b-5')).toHaveLength(1);
    expect(b24.statistics().filter((s) => s.EXTERNAL_CALL_ID === 'b-5')).toHaveLength(1);
  });

  it('never went over the portal limit', () => {
    expect(b24.rateLimitRejections).toBe(0);
  });
});
