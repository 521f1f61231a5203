import { createTenant, startTestApp, TestApp } from './support/test-app';

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
    expect(row.webhook_secret_enc).not.toContain(tenant.webhookSecret);
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
});
