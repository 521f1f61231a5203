import { AmocrmSandbox } from '../connectors/amocrm/amocrm.sandbox';
import { IntegrationsService } from '../src/integrations/integrations.service';
import { ConnectorRuntime } from '../src/integrations/runtime/connector-runtime.service';
import type { LiveConnector } from '../src/integrations/runtime/live-connector';
import { inboundCall } from './support/call-events';
import { expectSealed } from './support/sealed';
import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  startTestApp,
  TestApp,
} from './support/test-app';

const KNOWN = '+79161234567';
const UNKNOWN = '+74990001122';

/**
 * amoCRM end to end through the hub: connected by the OAuth redirect (code exchanged at the
 * account its `referer` names), then a call from a known client routed to the owner's
 * extension, popped to the ringing users, logged once with its uniq; a missed call from an
 * unknown number becomes exactly one incoming lead; an unpaid account is shown, not retried.
 */
describe('amoCRM through the hub', () => {
  const amo = new AmocrmSandbox();
  let t: TestApp;
  let tenant: CreatedTenant;
  let integrationId: string;

  const path = () => `/v1/tenants/${tenant.id}/integrations/${integrationId}`;
  const redirect = (query: Record<string, string>) =>
    t.request('GET', `/v1/crm/amocrm/oauth?${new URLSearchParams(query)}`, { admin: false });
  const actionsOf = async (callId: string) => {
    const res = await t.request('GET', `/v1/tenants/${tenant.id}/calls/${callId}`);
    return res.body?.integrations?.[0]?.actions as
      Record<string, { status: string; lastError: string | null }> | undefined;
  };

  beforeAll(async () => {
    amo.addUser({ id: 5001, name: 'Ivan Petrov' });
    amo.addUser({ id: 5002, name: 'Olga Orlova' });
    amo.addContact({
      id: 7001,
      name: 'Anna Smirnova',
      phones: ['8 916 123-45-67'],
      responsibleUserId: 5002,
    });
    await amo.start();
    t = await startTestApp();
    tenant = await createTenant(t, { name: 'Amo shop', routingBudgetMs: 1500 });
  }, 60000);
  afterAll(async () => {
    await t?.close();
    await amo.stop();
  });

  it('starts at needs_auth and is connected by the redirect, at the referer account', async () => {
    const created = await t.request('POST', `/v1/tenants/${tenant.id}/integrations`, {
      body: {
        connector: 'amocrm',
        config: { baseDomain: amo.accountHost, clientId: amo.clientId, apiUrl: amo.url },
        credentials: { clientSecret: amo.clientSecret },
      },
    });
    expect(created.status).toBe(201);
    expect(created.body.status).toBe('needs_auth');
    integrationId = created.body.id;
    const authorize = new URL(created.body.authorizeUrl);
    expect(`${authorize.origin}${authorize.pathname}`).toBe('https://www.amocrm.ru/oauth');
    expect(authorize.searchParams.get('client_id')).toBe(amo.clientId);
    const state = authorize.searchParams.get('state')!;

    // A redirect naming another site as the account is refused, and changes nothing.
    const { code, referer } = amo.consent(`${t.config.publicUrl}/v1/crm/amocrm/oauth`);
    const forged = await redirect({ code, state, referer: 'evil.example.com' });
    expect(forged.status).toBe(422);
    expect(forged.body.message).toContain('referer');
    expect(amo.grants.authorization_code).toBe(0);

    expect((await redirect({ code, state, referer })).status).toBe(200);
    expect(amo.grants.authorization_code).toBe(1);
    const read = await t.request('GET', path());
    expect(read.body).toMatchObject({ status: 'connected', statusMessage: null });
    const [row] = await t.db.query('SELECT tokens_enc FROM integrations WHERE id = ?', [
      integrationId,
    ]);
    expect(row.tokens_enc).toMatch(/^v1\./);
    // The code works once: a replayed redirect is refused and the integration stays connected.
    const replay = await redirect({ code, state, referer });
    expect(replay.status).toBe(422);
    expect((await t.request('GET', path())).body.status).toBe('connected');

    const agents = await t.request('PUT', `/v1/tenants/${tenant.id}/agents`, {
      body: [
        { extension: '101', name: 'Ivan', crmUsers: { [integrationId]: '5001' } },
        { extension: '102', name: 'Olga', crmUsers: { [integrationId]: '5002' } },
      ],
    });
    expect(agents.status).toBe(200);
  });

  it('routes a known client to the owner, pops the card to the ringing users, logs the call once', async () => {
    const route = await t.request('POST', `/v1/pbx/${tenant.id}/route`, {
      body: { callId: 'amo-1', from: '8 (916) 123-45-67' },
      headers: { 'x-api-key': tenant.apiKey },
    });
    expect(route.body).toMatchObject({ extension: '102', reason: 'responsible' });

    const callId = 'amo-1';
    const amo1 = inboundCall(callId, KNOWN, { ring: ['101', '102'], answeredBy: '102' });
    await postEvents(t, tenant, { events: amo1.start });
    await eventually(
      async () => amo.popups.length,
      (n) => n > 0,
      10000,
    );
    expect(amo.popups).toEqual([{ phone: KNOWN, users: [5001, 5002], at: expect.any(Number) }]);

    await postEvents(t, tenant, { events: amo1.end });
    await eventually(
      () => actionsOf(callId),
      (a) => a?.log?.status === 'done',
      20000,
    );
    expect(amo.callsWithUniq(callId)).toHaveLength(1);
    expect(amo.callsWithUniq(callId)[0]).toMatchObject({
      direction: 'inbound',
      duration: 60,
      phone: KNOWN,
      call_status: 4,
      responsible_user_id: 5002,
      created_by: 5002,
      entity_id: 7001,
    });
    expect(amo.unsorted).toHaveLength(0);
  });

  it("lists the account's users with the extensions the agent map gives them", async () => {
    const res = await t.request('GET', `${path()}/users`);
    expect(res.status).toBe(200);
    expect(res.body).toEqual([
      { crmUserId: '5001', name: 'Ivan Petrov', extension: '101' },
      { crmUserId: '5002', name: 'Olga Orlova', extension: '102' },
    ]);
    const other = await createTenant(t, { name: 'Someone else' });
    const foreign = await t.request(
      'GET',
      `/v1/tenants/${other.id}/integrations/${integrationId}/users`,
    );
    expect(foreign.status).toBe(404);
  });

  it('makes one incoming lead of a missed call from an unknown number', async () => {
    const callId = 'amo-2';
    const missed = inboundCall(callId, UNKNOWN);
    await postEvents(t, tenant, { events: [...missed.start, ...missed.end] });
    const actions = await eventually(
      () => actionsOf(callId),
      (a) => a?.lead?.status === 'done' && a?.log?.status === 'done',
      40000,
    );
    expect(actions).toMatchObject({ lead: { status: 'done' }, log: { status: 'done' } });
    // One incoming lead for the call, whichever action came first: a log that finds no entity
    // files the call as that incoming lead; a log after the lead lands on the lead it made.
    const incoming = amo.unsorted.filter((u) => u.metadata.uniq === callId);
    expect(incoming).toHaveLength(1);
    const logged = amo.callsWithUniq(callId);
    expect(logged.length).toBeLessThanOrEqual(1);
    if (logged.length === 1) {
      expect(logged[0]).toMatchObject({
        entity_type: 'lead',
        entity_id: incoming[0]._embedded.leads[0].id,
      });
    }
  }, 60000);

  it("keeps two integrations of one account inside the account's 7 requests a second", async () => {
    const live: LiveConnector[] = [];
    for (const name of ['Branch A', 'Branch B']) {
      const branch = await createTenant(t, { name });
      const created = await t.request('POST', `/v1/tenants/${branch.id}/integrations`, {
        body: {
          connector: 'amocrm',
          config: { baseDomain: amo.accountHost, clientId: amo.clientId, apiUrl: amo.url },
          credentials: { longLivedToken: amo.issueLongLivedToken() },
        },
      });
      expect(created.status).toBe(201);
      const integration = await t.app
        .get(IntegrationsService, { strict: false })
        .get(branch.id, created.body.id);
      live.push(t.app.get(ConnectorRuntime, { strict: false }).forIntegration(integration));
    }
    const rejections = amo.rateLimitRejections;
    const started = Date.now();
    // Seven lookups from each: 14 requests, two windows of the account's 7.
    const found = await Promise.all(
      Array.from({ length: 14 }, (_, i) => live[i % 2].lookupContact(KNOWN)),
    );
    expect(found.map((c) => c?.id)).toEqual(Array(14).fill('7001'));
    expect(amo.rateLimitRejections).toBe(rejections);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('shows an unpaid account as needing an admin, without a retry storm', async () => {
    amo.accountState = 'unpaid';
    try {
      const callId = 'amo-3';
      const unpaid = inboundCall(callId, KNOWN, { answeredBy: '101' });
      await postEvents(t, tenant, { events: [...unpaid.start, ...unpaid.end] });
      const flagged = await eventually(
        () => t.request('GET', path()),
        (r) => r.body.status === 'needs_reauth',
        20000,
      );
      expect(flagged.body.statusMessage).toContain('not paid');
      const sent = amo.requests.length;
      await new Promise((r) => setTimeout(r, 2000));
      expect(amo.requests.length - sent).toBe(0);
      expect((await actionsOf(callId))?.log?.status).toBe('pending');
    } finally {
      amo.accountState = 'active';
    }
  }, 40000);

  it('takes a long-lived token as the simple path, and keeps it sealed', async () => {
    const longLived = amo.issueLongLivedToken();
    const other = await createTenant(t, { name: 'Private integration' });
    const created = await t.request('POST', `/v1/tenants/${other.id}/integrations`, {
      body: {
        connector: 'amocrm',
        config: { baseDomain: amo.accountHost, clientId: amo.clientId, apiUrl: amo.url },
        credentials: { longLivedToken: longLived },
      },
    });
    expect(created.status).toBe(201);
    expect(created.body.status).toBe('connected');
    expect(created.text).not.toContain(longLived);
    const [row] = await t.db.query('SELECT credentials_enc FROM integrations WHERE id = ?', [
      created.body.id,
    ]);
    expectSealed(
      row.credentials_enc,
      t.config.encryptionKey,
      `integration:${created.body.id}:credentials`,
      JSON.stringify({ longLivedToken: longLived }),
    );
    const refused = await t.request('POST', `/v1/tenants/${other.id}/integrations`, {
      body: {
        connector: 'amocrm',
        config: { baseDomain: 'example.bitrix24.ru', clientId: amo.clientId, apiUrl: amo.url },
        credentials: { longLivedToken: longLived },
      },
    });
    expect(refused.status).toBe(400);
    expect(refused.body.message).toContain('baseDomain');
  });
});
