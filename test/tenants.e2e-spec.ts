import { createHash } from 'node:crypto';
import { expectSealed } from './support/sealed';
import { CreatedTenant, createTenant, eventually, startTestApp, TestApp } from './support/test-app';

describe('tenants and auth', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('creates a tenant with defaults and shows its secrets only once', async () => {
    const res = await t.request('POST', '/v1/tenants', { body: { name: 'Romashka' } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      name: 'Romashka',
      defaultCountry: 'RU',
      timezone: 'Europe/Moscow',
      routingBudgetMs: 800,
    });
    expect(res.body.apiKey).toMatch(/^hk_/);
    expect(res.body.webhookSecret).toMatch(/^whsec_/);
    const read = await t.request('GET', `/v1/tenants/${res.body.id}`);
    expect(read.status).toBe(200);
    expect(read.body.apiKey).toBeUndefined();
    expect(read.body.webhookSecret).toBeUndefined();
    expect(read.text).not.toContain(res.body.apiKey);
  });

  it('stores the API key hashed and the webhook secret encrypted', async () => {
    const tenant = await createTenant(t);
    const [row] = await t.db.query(
      'SELECT api_key_hash, webhook_secret_enc FROM tenants WHERE id = ?',
      [tenant.id],
    );
    expect(row.api_key_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.api_key_hash).not.toContain(tenant.apiKey);
    expectSealed(
      row.webhook_secret_enc,
      t.config.encryptionKey,
      `tenant:${tenant.id}:webhook`,
      tenant.webhookSecret,
    );
  });

  it('requires the operator token to create tenants', async () => {
    const tenant = await createTenant(t);
    expect(
      (await t.request('POST', '/v1/tenants', { body: { name: 'x' }, admin: false })).status,
    ).toBe(401);
    const withKey = await t.request('POST', '/v1/tenants', {
      body: { name: 'x' },
      headers: { 'x-api-key': tenant.apiKey },
    });
    expect(withKey.status).toBe(401);
    const wrong = await t.request('POST', '/v1/tenants', {
      body: { name: 'x' },
      headers: { authorization: 'Bearer nope' },
    });
    expect(wrong.status).toBe(401);
  });

  it.each([
    [{}, 'name'],
    [{ name: 'x', defaultCountry: 'XX' }, 'defaultCountry'],
    [{ name: 'x', timezone: 'Mars/Olympus' }, 'timezone'],
    [{ name: 'x', routingBudgetMs: 5 }, 'routingBudgetMs'],
    [{ name: 'x', color: 'red' }, 'color'],
  ])('rejects %j with a 400 naming %s', async (body, field) => {
    const res = await t.request('POST', '/v1/tenants', { body });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
    expect(res.body.message).toContain(field);
  });

  it('lets a tenant read and change itself with its API key', async () => {
    const tenant = await createTenant(t);
    const res = await t.request('PATCH', `/v1/tenants/${tenant.id}`, {
      body: { routingBudgetMs: 500, timezone: 'Asia/Yekaterinburg' },
      headers: { 'x-api-key': tenant.apiKey },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      routingBudgetMs: 500,
      timezone: 'Asia/Yekaterinburg',
      name: 'Acme',
    });
  });

  it('never lets one tenant see another', async () => {
    const a = await createTenant(t, { name: 'A' });
    const b = await createTenant(t, { name: 'B' });
    for (const [method, path] of [
      ['GET', `/v1/tenants/${b.id}`],
      ['PATCH', `/v1/tenants/${b.id}`],
      ['POST', `/v1/tenants/${b.id}/rotate-secrets`],
      ['GET', `/v1/tenants/${b.id}/calls`],
      ['GET', `/v1/tenants/${b.id}/integrations`],
      ['GET', `/v1/tenants/${b.id}/agents`],
      ['GET', `/v1/tenants/${b.id}/pbx-sources`],
      ['POST', `/v1/pbx/${b.id}/events`],
    ]) {
      const res = await t.request(method, path, { body: {}, headers: { 'x-api-key': a.apiKey } });
      expect([401, 404]).toContain(res.status);
      expect(res.text).not.toContain('"name":"B"');
    }
    // A key on a tenant id that does not exist looks the same as a wrong key.
    const ghost = await t.request('GET', '/v1/tenants/00000000-0000-4000-8000-000000000000', {
      headers: { 'x-api-key': a.apiKey },
    });
    const wrong = await t.request('GET', `/v1/tenants/${b.id}`, {
      headers: { 'x-api-key': a.apiKey },
    });
    expect(ghost.status).toBe(wrong.status);
    expect(ghost.body.message).toBe(wrong.body.message);
  });

  it('answers 404 to the operator for a tenant that does not exist', async () => {
    const res = await t.request('GET', '/v1/tenants/00000000-0000-4000-8000-000000000000');
    expect(res.status).toBe(404);
  });

  it('rotates secrets: the old key stops working, the new one works', async () => {
    const tenant = await createTenant(t);
    const rotated = await t.request('POST', `/v1/tenants/${tenant.id}/rotate-secrets`, {
      headers: { 'x-api-key': tenant.apiKey },
    });
    expect(rotated.status).toBe(200);
    expect(rotated.body.apiKey).not.toBe(tenant.apiKey);
    expect(rotated.body.webhookSecret).not.toBe(tenant.webhookSecret);
    expect(
      (
        await t.request('GET', `/v1/tenants/${tenant.id}`, {
          headers: { 'x-api-key': tenant.apiKey },
        })
      ).status,
    ).toBe(401);
    expect(
      (
        await t.request('GET', `/v1/tenants/${tenant.id}`, {
          headers: { 'x-api-key': rotated.body.apiKey },
        })
      ).status,
    ).toBe(200);
  });

  describe('scoped pbx keys', () => {
    const event = (id: string) => ({
      id,
      callId: `c-${id}`,
      type: 'call.ringing',
      direction: 'inbound',
      from: '84951234567',
      to: '+74957654321',
      extension: '101',
      at: new Date().toISOString(),
    });
    const createKey = (tenant: CreatedTenant, body: unknown, headers?: Record<string, string>) =>
      t.request('POST', `/v1/tenants/${tenant.id}/keys`, { body, headers });
    const asKey = (key: string) => ({ 'x-api-key': key });
    const sendEvent = (tenantId: string, key: string, id: string) =>
      t.request('POST', `/v1/pbx/${tenantId}/events`, { body: event(id), headers: asKey(key) });

    it('creates a pbx key shown once, stored as a SHA-256, listed without it', async () => {
      const tenant = await createTenant(t);
      const res = await createKey(tenant, { name: 'asterisk dialplan', scope: 'pbx' });
      expect(res.status).toBe(201);
      expect(Object.keys(res.body).sort()).toEqual(['createdAt', 'id', 'key', 'name', 'scope']);
      expect(res.body).toMatchObject({ name: 'asterisk dialplan', scope: 'pbx' });
      expect(res.body.key).toMatch(/^hkpbx_[A-Za-z0-9_-]{43}$/);
      expect(new Date(res.body.createdAt).toISOString()).toBe(res.body.createdAt);

      const [row] = await t.db.query('SELECT * FROM tenant_keys WHERE id = ?', [res.body.id]);
      expect(row.key_hash).toBe(createHash('sha256').update(res.body.key).digest('hex'));
      expect(JSON.stringify(row)).not.toContain(res.body.key);

      const list = await t.request('GET', `/v1/tenants/${tenant.id}/keys`, {
        headers: asKey(tenant.apiKey),
      });
      expect(list.status).toBe(200);
      expect(list.body).toEqual([
        {
          id: res.body.id,
          name: 'asterisk dialplan',
          scope: 'pbx',
          createdAt: res.body.createdAt,
          lastUsedAt: null,
        },
      ]);
      expect(list.text).not.toContain(res.body.key);
    });

    it.each([
      [{}, ['name', 'scope']],
      [{ name: '', scope: 'pbx' }, ['name']],
      [{ name: 'x'.repeat(101), scope: 'pbx' }, ['name']],
      [{ name: 7, scope: 'pbx' }, ['name']],
      [{ name: 'x', scope: 'admin' }, ['scope']],
      [{ name: 'x', scope: 'pbx', expiresAt: '2030-01-01' }, ['expiresAt']],
    ])('refuses %j with a 400 naming %j', async (body, fields) => {
      const tenant = await createTenant(t);
      const res = await createKey(tenant, body);
      expect(res.status).toBe(400);
      for (const field of fields) expect(res.body.message).toContain(field);
      expect(
        await t.db.query('SELECT id FROM tenant_keys WHERE tenant_id = ?', [tenant.id]),
      ).toEqual([]);
    });

    it('sends events and asks for routes with a pbx key, and manages nothing', async () => {
      const tenant = await createTenant(t);
      const { key } = (await createKey(tenant, { name: 'pbx', scope: 'pbx' })).body;
      expect((await sendEvent(tenant.id, key, 'k-1')).status).toBe(202);
      const route = await t.request('POST', `/v1/pbx/${tenant.id}/route`, {
        body: { callId: 'c-k-1', from: '84951234567' },
        headers: asKey(key),
      });
      expect(route.status).toBe(200);
      expect(route.body).toMatchObject({ extension: null });

      const base = `/v1/tenants/${tenant.id}`;
      for (const [method, path, body] of [
        ['GET', base],
        ['PATCH', base, { routingBudgetMs: 500 }],
        ['POST', `${base}/rotate-secrets`],
        ['GET', `${base}/keys`],
        ['POST', `${base}/keys`, { name: 'more', scope: 'pbx' }],
        ['DELETE', `${base}/keys/00000000-0000-4000-8000-000000000000`],
        ['GET', `${base}/calls`],
        ['POST', `${base}/calls/originate`, { extension: '101', to: '+79161234567' }],
        ['GET', `${base}/integrations`],
        ['GET', `${base}/agents`],
        ['PUT', `${base}/agents`, []],
        ['GET', `${base}/pbx-sources`],
        ['POST', `${base}/pbx-sources`, { type: 'generic', config: {} }],
      ] as [string, string, unknown?][]) {
        const res = await t.request(method, path, { body, headers: asKey(key) });
        expect({ method, path, status: res.status }).toEqual({ method, path, status: 403 });
        expect(res.body.message).toMatch(/scope "pbx": it may only send PBX events/);
      }
      // The operator-only routes do not take API keys at all.
      expect((await t.request('GET', '/v1/tenants', { headers: asKey(key) })).status).toBe(401);
      const [row] = await t.db.query('SELECT routing_budget_ms FROM tenants WHERE id = ?', [
        tenant.id,
      ]);
      expect(row.routing_budget_ms).toBe(800);
      const keys = await t.db.query('SELECT id FROM tenant_keys WHERE tenant_id = ?', [tenant.id]);
      expect(keys).toHaveLength(1);
    });

    it("answers another tenant's pbx key exactly like a wrong key", async () => {
      const a = await createTenant(t, { name: 'A' });
      const b = await createTenant(t, { name: 'B' });
      const { key } = (await createKey(a, { name: 'pbx', scope: 'pbx' })).body;
      const wrong = await sendEvent(b.id, `hkpbx_${'x'.repeat(43)}`, 'k-x');
      for (const [method, path] of [
        ['POST', `/v1/pbx/${b.id}/events`],
        ['POST', `/v1/pbx/${b.id}/route`],
        ['GET', `/v1/tenants/${b.id}`],
        ['GET', `/v1/tenants/${b.id}/keys`],
      ]) {
        const res = await t.request(method, path, {
          body: method === 'GET' ? undefined : event('k-b'),
          headers: asKey(key),
        });
        expect(res.status).toBe(401);
        expect(res.body.message).toBe(wrong.body.message);
        expect(res.text).not.toContain('"name":"B"');
      }
      expect(wrong.status).toBe(401);
    });

    it("revokes a key at once; another tenant's key id is 404", async () => {
      const a = await createTenant(t, { name: 'A' });
      const b = await createTenant(t, { name: 'B' });
      const created = (await createKey(a, { name: 'pbx', scope: 'pbx' })).body;
      expect((await sendEvent(a.id, created.key, 'r-1')).status).toBe(202);

      // B cannot revoke (or even see) A's key, with B's key or on B's path with the operator token.
      const foreign = await t.request('DELETE', `/v1/tenants/${b.id}/keys/${created.id}`, {
        headers: asKey(b.apiKey),
      });
      expect(foreign.status).toBe(404);
      expect((await t.request('DELETE', `/v1/tenants/${b.id}/keys/${created.id}`)).status).toBe(
        404,
      );
      expect((await t.request('DELETE', `/v1/tenants/${a.id}/keys/not-a-uuid`)).status).toBe(404);
      expect((await sendEvent(a.id, created.key, 'r-2')).status).toBe(202);

      const revoked = await t.request('DELETE', `/v1/tenants/${a.id}/keys/${created.id}`, {
        headers: asKey(a.apiKey),
      });
      expect(revoked.status).toBe(204);
      const after = await sendEvent(a.id, created.key, 'r-3');
      expect(after.status).toBe(401);
      expect(after.body.message).toBe('invalid API key for this tenant');
      expect((await t.request('DELETE', `/v1/tenants/${a.id}/keys/${created.id}`)).status).toBe(
        404,
      );
    });

    it('checks keys from a cache, so a revocation on another instance applies within seconds', async () => {
      const tenant = await createTenant(t);
      const created = (await createKey(tenant, { name: 'pbx', scope: 'pbx' })).body;
      expect((await sendEvent(tenant.id, created.key, 'x-1')).status).toBe(202);
      // Another instance revoked it: the row is gone, this instance's cache does not know yet.
      await t.db.query('DELETE FROM tenant_keys WHERE id = ?', [created.id]);
      const started = Date.now();
      // Served from the cache (no query per request), then refused once the cache refreshed.
      expect((await sendEvent(tenant.id, created.key, 'x-2')).status).toBe(202);
      let n = 1;
      const res = await eventually(
        () => sendEvent(tenant.id, created.key, `x-${++n + 1}`),
        (r) => r.status === 401,
        10000,
      );
      expect(res.status).toBe(401);
      expect(Date.now() - started).toBeLessThan(6000);
    });

    it('records when a key was last used', async () => {
      const tenant = await createTenant(t);
      const created = (await createKey(tenant, { name: 'pbx', scope: 'pbx' })).body;
      expect((await sendEvent(tenant.id, created.key, 'u-1')).status).toBe(202);
      const list = await eventually(
        () => t.request('GET', `/v1/tenants/${tenant.id}/keys`),
        (r) => r.body[0]?.lastUsedAt !== null,
      );
      expect(Date.parse(list.body[0].lastUsedAt)).toBeGreaterThanOrEqual(
        Date.parse(created.createdAt),
      );
    });

    it("takes the tenant's full apiKey for managing keys, and a new key works at once", async () => {
      const tenant = await createTenant(t);
      const res = await createKey(tenant, { name: 'second', scope: 'pbx' }, asKey(tenant.apiKey));
      expect(res.status).toBe(201);
      expect((await sendEvent(tenant.id, res.body.key, 'n-1')).status).toBe(202);
      // rotate-secrets replaces the apiKey and webhook secret, not the pbx keys.
      await t.request('POST', `/v1/tenants/${tenant.id}/rotate-secrets`);
      expect((await sendEvent(tenant.id, res.body.key, 'n-2')).status).toBe(202);
    });
  });
});
