import { join } from 'node:path';
import { SecretBox } from '../src/common/secret-box';
import { IntegrationsService } from '../src/integrations/integrations.service';
import { ConnectorRuntime } from '../src/integrations/runtime/connector-runtime.service';
import { OauthCrmSandbox } from './support/oauth-crm-sandbox';
import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  startTestApp,
  TestApp,
} from './support/test-app';

const PLUGIN = join(__dirname, 'fixtures', 'oauth-connector');

describe('OAuth 2 connectors: the core signs in, refreshes and keeps the tokens', () => {
  const crm = new OauthCrmSandbox();
  let t: TestApp;
  let second: TestApp;
  let tenant: CreatedTenant;

  beforeAll(async () => {
    await crm.start();
    t = await startTestApp({ HUB_CONNECTOR_PLUGINS: PLUGIN, HUB_SWEEP_INTERVAL_S: '1' });
    second = await startTestApp({
      HUB_CONNECTOR_PLUGINS: PLUGIN,
      DATABASE_URL: t.config.databaseUrl,
      HUB_REDIS_PREFIX: t.config.redisPrefix,
    });
    tenant = await createTenant(t);
  });

  afterAll(async () => {
    await second?.app.close();
    await t?.close();
    await crm.stop();
  });

  async function createIntegration(credentials: object = { clientSecret: crm.clientSecret }) {
    return t.request('POST', `/v1/tenants/${tenant.id}/integrations`, {
      body: {
        connector: 'oauth-crm',
        config: { url: crm.url, clientId: crm.clientId },
        credentials,
      },
    });
  }

  /** What the admin's browser does after clicking "Allow" in the CRM. */
  function redirect(state: string, code = crm.consent()) {
    return t.request('GET', `/v1/crm/oauth-crm/oauth?${new URLSearchParams({ code, state })}`, {
      admin: false,
    });
  }

  const stateOf = (authorizeUrl: string) => new URL(authorizeUrl).searchParams.get('state')!;

  async function connected(): Promise<string> {
    const created = await createIntegration();
    expect((await redirect(stateOf(created.body.authorizeUrl))).status).toBe(200);
    return created.body.id as string;
  }

  it('starts at needs_auth with an authorizeUrl, and is connected by the OAuth redirect', async () => {
    const created = await createIntegration();
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ status: 'needs_auth' });
    const authorize = new URL(created.body.authorizeUrl);
    expect(`${authorize.origin}${authorize.pathname}`).toBe(`${crm.url}/oauth/authorize`);
    expect(authorize.searchParams.get('redirect_uri')).toBe(
      `${t.config.publicUrl}/v1/crm/oauth-crm/oauth`,
    );
    const before = crm.grants.authorization_code;
    const done = await redirect(stateOf(created.body.authorizeUrl));
    expect(done.status).toBe(200);
    expect(done.text).toContain('connected');
    expect(crm.grants.authorization_code).toBe(before + 1);
    const read = await t.request('GET', `/v1/tenants/${tenant.id}/integrations/${created.body.id}`);
    expect(read.body).toMatchObject({ status: 'connected', statusMessage: null });
    expect(read.body.authorizeUrl).toBeUndefined();
    const [row] = await t.db.query('SELECT tokens_enc FROM integrations WHERE id = ?', [
      created.body.id,
    ]);
    // AES-256-GCM sealed, bound to this row: another key or another row does not open it.
    expect(row.tokens_enc).toMatch(/^v1\.[A-Za-z0-9+/]+=*$/);
    expect(row.tokens_enc).not.toMatch(/at-|rt-/);
    const box = new SecretBox(t.config.encryptionKey);
    expect(box.openJson(row.tokens_enc, `integration:${created.body.id}:tokens`)).toMatchObject({
      accessToken: expect.stringMatching(/^at-/),
    });
    expect(() => box.open(row.tokens_enc, `integration:${tenant.id}:tokens`)).toThrow();
    expect(() =>
      new SecretBox(Buffer.alloc(32, 9)).open(
        row.tokens_enc,
        `integration:${created.body.id}:tokens`,
      ),
    ).toThrow();
  });

  it('refuses a forged state, and a replayed code without disconnecting the integration', async () => {
    const created = await createIntegration();
    const forged = await redirect(`${stateOf(created.body.authorizeUrl)}x`);
    expect(forged.status).toBe(400);
    expect(forged.body.message).toContain('state');
    const code = crm.consent();
    expect((await redirect(stateOf(created.body.authorizeUrl), code)).status).toBe(200);
    const replay = await redirect(stateOf(created.body.authorizeUrl), code);
    expect(replay.status).toBe(422);
    expect(replay.body.message).toContain('code could not be exchanged');
    const read = await t.request('GET', `/v1/tenants/${tenant.id}/integrations/${created.body.id}`);
    expect(read.body.status).toBe('connected');
  });

  it('refreshes once for all instances when the access token stops working, never reusing a refresh token', async () => {
    const id = await connected();
    crm.contacts.set('+79161234567', { id: 'c1', name: 'Anna', owner: '27' });
    crm.expireAccessTokens();
    crm.tokenLatencyMs = 300;
    const refreshes = crm.grants.refresh_token;
    try {
      const lookups = [t, second, t, second, t, second].map(async (app) => {
        const integration = await app.app.get(IntegrationsService).byId(id);
        return app.app
          .get(ConnectorRuntime)
          .forIntegration(integration!)
          .lookupContact('+79161234567');
      });
      const found = await Promise.all(lookups);
      expect(found.map((c) => c?.id)).toEqual(['c1', 'c1', 'c1', 'c1', 'c1', 'c1']);
    } finally {
      crm.tokenLatencyMs = 0;
    }
    expect(crm.grants.refresh_token).toBe(refreshes + 1);
    expect(crm.reusedRefreshTokens).toBe(0);
  });

  it('puts a revoked grant in needs_reauth; the waiting lead is created once after reconnecting', async () => {
    const id = await connected();
    crm.revoke();
    const leadsBefore = crm.leads.length;
    const callId = `c-revoked-${Date.now()}`;
    const at = (s: number) => new Date(Date.now() - 60_000 + s * 1000).toISOString();
    await postEvents(t, tenant, {
      events: [
        {
          id: `${callId}-1`,
          callId,
          type: 'call.ringing',
          direction: 'inbound',
          from: '+79035550001',
          to: '+74957654321',
          extension: '101',
          at: at(0),
        },
        {
          id: `${callId}-2`,
          callId,
          type: 'call.ended',
          result: 'missed',
          duration: 0,
          at: at(20),
        },
      ],
    });
    const path = `/v1/tenants/${tenant.id}/integrations/${id}`;
    const flagged = await eventually(
      () => t.request('GET', path),
      (r) => r.body.status === 'needs_reauth',
      15_000,
    );
    expect(flagged.body.status).toBe('needs_reauth');
    expect(flagged.body.statusMessage).toContain('refused');
    expect(flagged.body.authorizeUrl).toEqual(expect.any(String));
    const call = await t.request('GET', `/v1/tenants/${tenant.id}/calls/${callId}`);
    const lead = call.body.integrations.find(
      (i: { integrationId: string }) => i.integrationId === id,
    ).actions.lead;
    expect(lead.status).toBe('pending');
    // No retry storm while it waits for an admin.
    const sent = crm.requests.length;
    await new Promise((r) => setTimeout(r, 2000));
    expect(crm.requests.length - sent).toBe(0);

    expect((await redirect(stateOf(flagged.body.authorizeUrl))).status).toBe(200);
    const done = await eventually(
      () => t.request('GET', `/v1/tenants/${tenant.id}/calls/${callId}`),
      (r) =>
        r.body.integrations.find((i: { integrationId: string }) => i.integrationId === id).actions
          .lead.status === 'done',
      15_000,
    );
    expect(
      done.body.integrations.find((i: { integrationId: string }) => i.integrationId === id).actions
        .lead.status,
    ).toBe('done');
    expect(crm.leads.slice(leadsBefore).map((l) => l.key)).toEqual([`${callId}:lead`]);
    expect((await t.request('GET', path)).body.status).toBe('connected');
  });

  it('takes a long-lived token as the simple path, checked live', async () => {
    const refused = await createIntegration({ longLivedToken: 'not-issued' });
    expect(refused.status).toBe(422);
    expect(refused.body.message).toContain('credentials.');
    const ok = await createIntegration({ longLivedToken: crm.issueLongLived() });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ status: 'connected' });
    expect(ok.body.authorizeUrl).toBeUndefined();
  });
});
