import { join } from 'node:path';
import { expectSealed } from './support/sealed';
import { CreatedTenant, createTenant, startTestApp, TestApp } from './support/test-app';

const PLUGIN = join(__dirname, 'fixtures', 'plugin-connector');

describe('admin API: integrations, agents, PBX sources, connectors and operations', () => {
  let t: TestApp;
  let tenant: CreatedTenant;
  const asTenant = () => ({ 'x-api-key': tenant.apiKey });

  beforeAll(async () => {
    t = await startTestApp({ HUB_CONNECTOR_PLUGINS: PLUGIN });
    tenant = await createTenant(t);
  });
  afterAll(() => t.close());

  describe('integrations', () => {
    it('lists built-in and plugin connectors with their fields, without secrets', async () => {
      const res = await t.request('GET', '/v1/connectors', { admin: false });
      expect(res.status).toBe(200);
      const ids = res.body.map((c: { id: string }) => c.id);
      expect(ids).toEqual(expect.arrayContaining(['retailcrm', 'plugin-crm']));
      const plugin = res.body.find((c: { id: string }) => c.id === 'plugin-crm');
      expect(plugin.credentials).toEqual([
        { name: 'token', description: 'API token', required: true, secret: true },
      ]);
      expect(plugin.config[0]).toMatchObject({ name: 'url', required: true });
    });

    it('creates, reads, changes and deletes an integration; credentials are encrypted and never returned', async () => {
      const created = await t.request('POST', `/v1/tenants/${tenant.id}/integrations`, {
        body: {
          connector: 'plugin-crm',
          config: { url: 'http://crm.local' },
          credentials: { token: 'good-token' },
          settings: { createLeadFor: 'unknown' },
        },
        headers: asTenant(),
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        connector: 'plugin-crm',
        enabled: true,
        status: 'connected',
        settings: {
          popOnRinging: true,
          logCalls: true,
          attachRecordings: true,
          createLeadFor: 'unknown',
          routeToResponsible: true,
        },
      });
      expect(created.text).not.toContain('good-token');
      const [row] = await t.db.query('SELECT credentials_enc FROM integrations WHERE id = ?', [
        created.body.id,
      ]);
      expectSealed(
        row.credentials_enc,
        t.config.encryptionKey,
        `integration:${created.body.id}:credentials`,
        JSON.stringify({ token: 'good-token' }),
      );

      const path = `/v1/tenants/${tenant.id}/integrations/${created.body.id}`;
      const read = await t.request('GET', path, { headers: asTenant() });
      expect(read.status).toBe(200);
      expect(read.text).not.toContain('good-token');

      const patched = await t.request('PATCH', path, {
        body: { enabled: false, settings: { logCalls: false } },
        headers: asTenant(),
      });
      expect(patched.body).toMatchObject({
        enabled: false,
        settings: { logCalls: false, popOnRinging: true },
      });
      const badCreds = await t.request('PATCH', path, {
        body: { credentials: { token: 'bad' } },
        headers: asTenant(),
      });
      expect(badCreds.status).toBe(422);
      expect(badCreds.body.message).toContain('credentials.token');

      expect((await t.request('DELETE', path, { headers: asTenant() })).status).toBe(204);
      expect((await t.request('GET', path, { headers: asTenant() })).status).toBe(404);
    });

    it.each([
      [{ connector: 'nope', config: {}, credentials: {} }, 400, 'connector'],
      [
        {
          connector: 'plugin-crm',
          config: { url: 'not-a-url' },
          credentials: { token: 'good-token' },
        },
        400,
        'config.url',
      ],
      [
        { connector: 'plugin-crm', config: { url: 'http://x' }, credentials: {} },
        400,
        'credentials.token',
      ],
      [
        {
          connector: 'plugin-crm',
          config: { url: 'http://x', extra: 1 },
          credentials: { token: 'good-token' },
        },
        400,
        'config.extra',
      ],
      [
        { connector: 'plugin-crm', config: { url: 'http://x' }, credentials: { token: 'bad' } },
        422,
        'credentials.token',
      ],
      [
        {
          connector: 'plugin-crm',
          config: { url: 'http://x' },
          credentials: { token: 'good-token' },
          settings: { createLeadFor: 'always' },
        },
        400,
        'settings.createLeadFor',
      ],
    ])('rejects %j with %d naming %s', async (body, status, field) => {
      const res = await t.request('POST', `/v1/tenants/${tenant.id}/integrations`, {
        body,
        headers: asTenant(),
      });
      expect(res.status).toBe(status);
      expect(res.body.message).toContain(field);
    });

    it("does not show one tenant's integration to another", async () => {
      const created = await t.request('POST', `/v1/tenants/${tenant.id}/integrations`, {
        body: {
          connector: 'plugin-crm',
          config: { url: 'http://crm.local' },
          credentials: { token: 'good-token' },
        },
      });
      const other = await createTenant(t, { name: 'Other' });
      const res = await t.request(
        'GET',
        `/v1/tenants/${other.id}/integrations/${created.body.id}`,
        { headers: { 'x-api-key': other.apiKey } },
      );
      expect(res.status).toBe(404);
    });
  });

  describe('agents', () => {
    it('replaces and returns the agent map', async () => {
      const integ = await t.request('POST', `/v1/tenants/${tenant.id}/integrations`, {
        body: {
          connector: 'plugin-crm',
          config: { url: 'http://crm.local' },
          credentials: { token: 'good-token' },
        },
      });
      const body = [
        { extension: '101', name: 'Ivan', crmUsers: { [integ.body.id]: '27' } },
        { extension: '102', crmUsers: {} },
      ];
      const put = await t.request('PUT', `/v1/tenants/${tenant.id}/agents`, {
        body,
        headers: asTenant(),
      });
      expect(put.status).toBe(200);
      expect(put.body).toEqual([
        { extension: '101', name: 'Ivan', crmUsers: { [integ.body.id]: '27' } },
        { extension: '102', name: null, crmUsers: {} },
      ]);
      const replaced = await t.request('PUT', `/v1/tenants/${tenant.id}/agents`, {
        body: [{ extension: '103', crmUsers: {} }],
      });
      expect(replaced.body.map((a: { extension: string }) => a.extension)).toEqual(['103']);
    });

    it.each([
      [{ extension: '101', crmUsers: {} }, 'array'],
      [[{ extension: '101' }], '0.crmUsers'],
      [[{ extension: '', crmUsers: {} }], '0.extension'],
      [[{ extension: '101', crmUsers: {}, role: 'boss' }], '0.role'],
      [
        [
          { extension: '101', crmUsers: {} },
          { extension: '101', crmUsers: {} },
        ],
        '1.extension',
      ],
      [
        [{ extension: '101', crmUsers: { '00000000-0000-4000-8000-000000000000': '1' } }],
        'crmUsers.00000000',
      ],
    ])('rejects %j naming %s', async (body, field) => {
      const res = await t.request('PUT', `/v1/tenants/${tenant.id}/agents`, { body });
      expect(res.status).toBe(400);
      expect(res.body.message).toContain(field);
    });
  });

  describe('PBX sources', () => {
    it('creates each type, validates per type, and never returns credentials', async () => {
      const base = `/v1/tenants/${tenant.id}/pbx-sources`;
      const generic = await t.request('POST', base, {
        body: { type: 'generic', config: { originateUrl: 'https://pbx.local/originate' } },
      });
      expect(generic.status).toBe(201);
      expect(generic.body).toMatchObject({
        type: 'generic',
        config: { originateUrl: 'https://pbx.local/originate' },
        status: 'active',
      });
      const zadarma = await t.request('POST', base, {
        body: { type: 'zadarma', config: {}, credentials: { key: 'k1', secret: 'zd-secret' } },
      });
      expect(zadarma.status).toBe(201);
      expect(zadarma.text).not.toContain('zd-secret');
      const [row] = await t.db.query('SELECT credentials_enc FROM pbx_sources WHERE id = ?', [
        zadarma.body.id,
      ]);
      expectSealed(
        row.credentials_enc,
        t.config.encryptionKey,
        `pbx-source:${zadarma.body.id}:credentials`,
        JSON.stringify({ key: 'k1', secret: 'zd-secret' }),
      );
      const list = await t.request('GET', base, { headers: asTenant() });
      expect(list.body.map((s: { type: string }) => s.type)).toEqual(
        expect.arrayContaining(['generic', 'zadarma']),
      );
      expect(list.text).not.toContain('zd-secret');

      for (const [body, field] of [
        [{ type: 'fax', config: {} }, 'type'],
        [{ type: 'zadarma', config: {} }, 'credentials'],
        [
          { type: 'asterisk', config: { port: 5038 }, credentials: { username: 'u', secret: 's' } },
          'config.host',
        ],
        [
          {
            type: 'asterisk',
            config: { host: 'pbx', port: 99999 },
            credentials: { username: 'u', secret: 's' },
          },
          'config.port',
        ],
        [{ type: 'generic', config: { originateUrl: 'ftp://x' } }, 'config.originateUrl'],
        [{ type: 'generic', config: {}, credentials: { a: 1 } }, 'credentials'],
      ] as const) {
        const res = await t.request('POST', base, { body });
        expect(res.status).toBe(400);
        expect(res.body.message).toContain(field);
      }
      const patched = await t.request('PATCH', `${base}/${generic.body.id}`, {
        body: { config: { originateUrl: 'https://pbx2.local/o' } },
      });
      expect(patched.body.config.originateUrl).toBe('https://pbx2.local/o');
      expect((await t.request('DELETE', `${base}/${generic.body.id}`)).status).toBe(204);
    });
  });

  describe('operations', () => {
    it('reports liveness and readiness of the database and Redis', async () => {
      expect((await t.request('GET', '/health/live', { admin: false })).body).toEqual({
        status: 'ok',
      });
      const ready = await t.request('GET', '/health/ready', { admin: false });
      expect(ready.status).toBe(200);
      expect(ready.body.details).toMatchObject({
        database: { status: 'up' },
        redis: { status: 'up' },
      });
    });

    it('exposes hub_ metrics including queue depth and event counters', async () => {
      const res = await t.request('GET', '/metrics', { admin: false });
      expect(res.status).toBe(200);
      for (const name of [
        'hub_events_accepted_total',
        'hub_events_duplicates_total',
        'hub_events_rejected_total',
        'hub_queue_depth',
        'hub_job_duration_seconds',
        'hub_job_failures_total',
      ]) {
        expect(res.text).toContain(name);
      }
    });

    it('serves the OpenAPI document generated from the DTOs', async () => {
      const res = await t.request('GET', '/docs-json', { admin: false });
      expect(res.status).toBe(200);
      expect(Object.keys(res.body.paths)).toEqual(
        expect.arrayContaining([
          '/v1/tenants',
          '/v1/pbx/{tenantId}/events',
          '/v1/pbx/{tenantId}/route',
        ]),
      );
      expect(res.body.components.schemas.IngestEventDto.properties).toHaveProperty('callId');
    });

    it('keeps the queue dashboard behind the operator token', async () => {
      expect((await t.request('GET', '/admin/queues/', { admin: false })).status).toBe(401);
      expect(
        (await t.request('GET', '/admin/queues/', { headers: { 'x-api-key': tenant.apiKey } }))
          .status,
      ).toBe(401);
      const ok = await t.request('GET', '/admin/queues/');
      expect(ok.status).toBe(200);
      expect(ok.text).toContain('<html');
      const basic = Buffer.from(`admin:${'test-admin-token-0123456789abcdef'}`).toString('base64');
      expect(
        (
          await t.request('GET', '/admin/queues/api/queues', {
            headers: { authorization: `Basic ${basic}` },
          })
        ).status,
      ).toBe(200);
    });
  });
});
