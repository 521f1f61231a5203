import { getMetadataStorage } from 'class-validator';
import { AmocrmSandbox } from '../connectors/amocrm/amocrm.sandbox';
import { RetailcrmSandbox } from '../connectors/retailcrm/retailcrm.sandbox';
import type { FieldDescription } from '../src/connector-sdk';
import { PbxAdapters } from '../src/pbx/pbx-adapters';
import { connectRetailcrm } from './support/retailcrm';
import {
  CreatedTenant,
  createTenant,
  eventually,
  RequestOptions,
  signedHeaders,
  startTestApp,
  TestApp,
} from './support/test-app';

const PUBLIC_URL = 'https://hub.example.test';

interface SourceType {
  type: string;
  displayName: string;
  config: FieldDescription[];
  credentials: FieldDescription[];
  ingress: { path: string | null; signing: string | null };
  canOriginate: boolean;
}

/** The properties class-validator checks on a schema: every one an admin may fill in. */
function validatedProperties(schema: new () => object): string[] {
  const names = getMetadataStorage()
    .getTargetValidationMetadatas(schema, '', true, false)
    .map((m) => m.propertyName);
  return [...new Set(names)].sort();
}

describe('console API: source types, webhook setup, test connection', () => {
  const crm = new RetailcrmSandbox();
  const amo = new AmocrmSandbox();
  let t: TestApp;
  let tenant: CreatedTenant;
  let other: CreatedTenant;
  const sources: Record<string, string> = {};

  const asTenant = (apiKey = tenant.apiKey) => ({ headers: { 'x-api-key': apiKey } });

  beforeAll(async () => {
    await crm.start();
    await amo.start();
    t = await startTestApp({ HUB_PUBLIC_URL: PUBLIC_URL });
    tenant = await createTenant(t, { name: 'Console' });
    other = await createTenant(t, { name: 'Other' });
    const create = async (type: string, config: object, credentials?: object) => {
      const res = await t.request('POST', `/v1/tenants/${tenant.id}/pbx-sources`, {
        body: { type, config, ...(credentials ? { credentials } : {}) },
      });
      if (res.status !== 201) throw new Error(`${type} source: ${res.status} ${res.text}`);
      sources[type] = res.body.id;
    };
    await create('generic', {});
    await create('zadarma', { apiUrl: 'http://127.0.0.1:9' }, { key: 'k1', secret: 's1' });
    // Nothing listens on port 9: the source only says it cannot connect.
    await create('asterisk', { host: '127.0.0.1', port: 9 }, { username: 'hub', secret: 's' });
    await create(
      'vats',
      { apiUrl: 'http://127.0.0.1:9/crmapi/v1' },
      { crmToken: 'crm-token-1', apiKey: 'k' },
    );
  }, 60000);

  afterAll(async () => {
    await t?.close();
    await crm.stop();
    await amo.stop();
  });

  describe('GET /v1/pbx-source-types', () => {
    let types: SourceType[];

    beforeAll(async () => {
      const res = await t.request('GET', '/v1/pbx-source-types', { admin: false });
      expect(res.status).toBe(200);
      types = res.body;
    });

    it('is public and lists every adapter in registration order with its ingress', () => {
      expect(types.map((s) => s.type)).toEqual(t.app.get(PbxAdapters).types());
      expect(types.map((s) => [s.type, s.ingress, s.canOriginate])).toEqual([
        ['generic', { path: 'events', signing: 'hub-signature' }, true],
        ['zadarma', { path: 'zadarma', signing: 'pbx' }, true],
        ['asterisk', { path: null, signing: null }, true],
        ['vats', { path: 'vats', signing: 'pbx' }, true],
      ]);
      for (const s of types) expect(s.displayName).toEqual(expect.any(String));
    });

    it('describes every config and credential field, with what is required', () => {
      const field = (type: string, part: 'config' | 'credentials', name: string) =>
        types.find((s) => s.type === type)![part].find((f) => f.name === name);
      expect(field('asterisk', 'config', 'host')).toMatchObject({ required: true, secret: false });
      expect(field('asterisk', 'config', 'port')).toMatchObject({ required: false, example: 5038 });
      expect(field('asterisk', 'credentials', 'username')).toMatchObject({ required: true });
      expect(field('asterisk', 'credentials', 'secret')).toMatchObject({
        required: true,
        secret: true,
      });
      expect(field('vats', 'config', 'apiUrl')).toMatchObject({ required: true });
      expect(field('vats', 'credentials', 'crmToken')).toMatchObject({ secret: true });
      expect(field('zadarma', 'credentials', 'secret')).toMatchObject({ secret: true });
      expect(field('generic', 'config', 'originateUrl')).toMatchObject({ required: false });
      // The shared decorators describe their fields for every source that has them.
      for (const type of ['generic', 'zadarma', 'asterisk', 'vats']) {
        expect(field(type, 'config', 'recordsAllCalls')).toMatchObject({ required: false });
      }
      expect(field('zadarma', 'config', 'allowedSenders')?.description).toMatch(/CIDR/);
      expect(field('vats', 'config', 'allowedSenders')?.description).toMatch(/CIDR/);
      expect(types.find((s) => s.type === 'generic')!.credentials).toEqual([]);

      for (const adapter of t.app.get(PbxAdapters).all()) {
        const view = types.find((s) => s.type === adapter.type)!;
        expect(view.config.map((f) => f.name).sort()).toEqual(
          validatedProperties(adapter.configSchema),
        );
        expect(view.credentials.map((f) => f.name).sort()).toEqual(
          adapter.credentialsSchema ? validatedProperties(adapter.credentialsSchema) : [],
        );
        for (const f of [...view.config, ...view.credentials]) {
          expect(f.description.length).toBeGreaterThan(20);
        }
      }
    });

    it('gives no example for a secret field', () => {
      const secrets = types.flatMap((s) => [...s.config, ...s.credentials].filter((f) => f.secret));
      expect(secrets.map((f) => f.name).sort()).toEqual(
        ['apiKey', 'crmToken', 'key', 'secret', 'secret'].sort(),
      );
      for (const f of secrets) expect(f.example).toBeUndefined();
    });
  });

  describe('GET /v1/tenants/:tenantId/pbx-sources/:sourceId/webhook', () => {
    const webhook = (type: string, options: RequestOptions = asTenant(), tenantId = tenant.id) =>
      t.request('GET', `/v1/tenants/${tenantId}/pbx-sources/${sources[type]}/webhook`, options);

    it('gives a generic source the events URL and a secret that signs accepted events', async () => {
      const res = await webhook('generic');
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.body).toEqual({
        url: `${PUBLIC_URL}/v1/pbx/${tenant.id}/events`,
        signing: 'hub-signature',
        secret: tenant.webhookSecret,
      });
      const raw = JSON.stringify({
        id: 'evt-console-1',
        callId: 'c-console-1',
        type: 'call.ringing',
        direction: 'inbound',
        from: '+79161234567',
        to: '+74957654321',
        extension: '101',
        at: new Date().toISOString(),
      });
      const signed = await t.request('POST', new URL(res.body.url).pathname, {
        rawBody: raw,
        headers: signedHeaders(res.body.secret, raw),
      });
      expect(signed.status).toBe(202);
      expect(signed.body).toEqual({ accepted: 1, duplicates: 0 });
    });

    it('gives a PBX-signed source its URL without a secret, and Asterisk none', async () => {
      const zadarma = await webhook('zadarma');
      expect(zadarma.status).toBe(200);
      expect(zadarma.body).toEqual({
        url: `${PUBLIC_URL}/v1/pbx/${tenant.id}/zadarma`,
        signing: 'pbx',
      });
      const vats = await webhook('vats');
      expect(vats.body).toEqual({ url: `${PUBLIC_URL}/v1/pbx/${tenant.id}/vats`, signing: 'pbx' });
      const asterisk = await webhook('asterisk');
      expect(asterisk.status).toBe(200);
      expect(asterisk.body).toEqual({ url: null, signing: null });
    });

    it('is refused to another tenant, to a pbx key, and 404 for a source not of the tenant', async () => {
      expect((await webhook('generic', asTenant(other.apiKey))).status).toBe(401);
      const key = await t.request('POST', `/v1/tenants/${tenant.id}/keys`, {
        body: { name: 'pbx', scope: 'pbx' },
      });
      expect(key.status).toBe(201);
      const scoped = await webhook('generic', asTenant(key.body.key));
      expect(scoped.status).toBe(403);
      expect(scoped.text).not.toContain(tenant.webhookSecret);
      // The admin token on the other tenant's path: the source is not that tenant's.
      const elsewhere = await webhook('generic', { headers: {} }, other.id);
      expect(elsewhere.status).toBe(404);
      const unknown = await t.request(
        'GET',
        `/v1/tenants/${tenant.id}/pbx-sources/00000000-0000-4000-8000-000000000000/webhook`,
      );
      expect(unknown.status).toBe(404);
    });

    it('gives the current secret after rotate-secrets', async () => {
      const rotated = await t.request('POST', `/v1/tenants/${tenant.id}/rotate-secrets`);
      expect(rotated.status).toBe(200);
      tenant = { ...tenant, ...rotated.body };
      const res = await webhook('generic');
      expect(res.body.secret).toBe(rotated.body.webhookSecret);
      const raw = JSON.stringify({
        id: 'evt-console-2',
        callId: 'c-console-1',
        type: 'call.answered',
        direction: 'inbound',
        from: '+79161234567',
        to: '+74957654321',
        extension: '101',
        at: new Date().toISOString(),
      });
      const signed = await t.request('POST', `/v1/pbx/${tenant.id}/events`, {
        rawBody: raw,
        headers: signedHeaders(res.body.secret, raw),
      });
      expect(signed.status).toBe(202);
    });
  });

  describe('POST /v1/tenants/:tenantId/integrations/:integrationId/test', () => {
    let integrationId: string;
    const runTest = (id = integrationId, options: RequestOptions = asTenant()) =>
      t.request('POST', `/v1/tenants/${tenant.id}/integrations/${id}/test`, options);
    const statusOf = async (id = integrationId) =>
      (await t.request('GET', `/v1/tenants/${tenant.id}/integrations/${id}`)).body as {
        status: string;
        statusMessage: string | null;
      };

    beforeAll(async () => {
      integrationId = await connectRetailcrm(t, tenant.id, crm);
    }, 30000);

    it('passes with the stored credentials, asking the CRM', async () => {
      crm.clearRequests();
      const res = await runTest();
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ ok: true, status: 'connected' });
      expect(crm.requests.map((r) => r.path)).toEqual(['/api/credentials']);
    });

    it('names the credential once the CRM refuses the key, and never shows it', async () => {
      const accepted = crm.apiKey;
      // The key is revoked in RetailCRM: the sandbox now accepts another one.
      (crm as { apiKey: string }).apiKey = 'a-key-the-hub-does-not-have';
      try {
        const res = await runTest();
        expect(res.status).toBe(200);
        expect(res.body).toEqual({
          ok: false,
          status: 'connected',
          message: expect.stringMatching(/^credentials\.apiKey was refused by the CRM: /),
        });
        expect(res.text).not.toContain(accepted);
      } finally {
        (crm as { apiKey: string }).apiKey = accepted;
      }
    });

    it('says when the CRM cannot be reached', async () => {
      const port = Number(new URL(crm.url).port);
      await crm.stop();
      try {
        const res = await runTest();
        expect(res.status).toBe(200);
        expect(res.body).toEqual({
          ok: false,
          status: 'connected',
          message: expect.stringMatching(/^the CRM could not be reached: .*connection refused/),
        });
        expect(res.text).not.toContain(String(port));
      } finally {
        await crm.start(port);
      }
    });

    it('connects an integration in error again when the test passes', async () => {
      // The next install (the agent map changed) is refused by RetailCRM: status error.
      crm.failNext(1, { status: 400 });
      const agents = await t.request('PUT', `/v1/tenants/${tenant.id}/agents`, {
        body: [{ extension: '101', crmUsers: { [integrationId]: '27' } }],
      });
      expect(agents.status).toBe(200);
      const failed = await eventually(statusOf, (s) => s.status === 'error', 15000);
      expect(failed.status).toBe('error');
      expect(failed.statusMessage).toMatch(/^install failed/);

      const res = await runTest();
      expect(res.body).toEqual({ ok: true, status: 'connected' });
      expect(await statusOf()).toMatchObject({ status: 'connected', statusMessage: null });
      // Connected again means installed again: the hub re-registers its module.
      crm.modules.clear();
      await eventually(
        async () => crm.modules.has('telephony-hub'),
        (v) => v,
        15000,
      );
      expect((await statusOf()).status).toBe('connected');
    }, 40000);

    it('does not ask the CRM for an integration still waiting for its sign-in', async () => {
      const created = await t.request('POST', `/v1/tenants/${tenant.id}/integrations`, {
        body: {
          connector: 'amocrm',
          config: { baseDomain: amo.accountHost, clientId: amo.clientId, apiUrl: amo.url },
          credentials: { clientSecret: amo.clientSecret },
        },
      });
      expect(created.status).toBe(201);
      expect(created.body.status).toBe('needs_auth');
      amo.clearRequests();
      const res = await runTest(created.body.id);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        ok: false,
        status: 'needs_auth',
        message: "not connected yet: connect it with the CRM's sign-in (authorizeUrl)",
      });
      expect(amo.requests).toEqual([]);
      expect(res.text).not.toContain(amo.clientSecret);
    });

    it('is 404 for an unknown or foreign integration, 400 with a body, 401/403 for other keys', async () => {
      expect((await runTest('00000000-0000-4000-8000-000000000000')).status).toBe(404);
      const foreign = await t.request(
        'POST',
        `/v1/tenants/${other.id}/integrations/${integrationId}/test`,
      );
      expect(foreign.status).toBe(404);
      const withBody = await runTest(integrationId, { ...asTenant(), body: { force: true } });
      expect(withBody.status).toBe(400);
      expect(withBody.body.message).toContain('force');
      expect((await runTest(integrationId, asTenant(other.apiKey))).status).toBe(401);
      const key = await t.request('POST', `/v1/tenants/${tenant.id}/keys`, {
        body: { name: 'pbx 2', scope: 'pbx' },
      });
      expect((await runTest(integrationId, asTenant(key.body.key))).status).toBe(403);
    });
  });

  it('puts the three routes in the OpenAPI document', async () => {
    const res = await t.request('GET', '/docs-json', { admin: false });
    expect(res.status).toBe(200);
    const paths = res.body.paths as Record<string, Record<string, { tags?: string[] }>>;
    expect(paths['/v1/pbx-source-types'].get.tags).toEqual(['pbx-sources']);
    expect(paths['/v1/tenants/{tenantId}/pbx-sources/{sourceId}/webhook'].get.tags).toEqual([
      'pbx-sources',
    ]);
    expect(paths['/v1/tenants/{tenantId}/integrations/{integrationId}/test'].post.tags).toEqual([
      'integrations',
    ]);
  });
});
