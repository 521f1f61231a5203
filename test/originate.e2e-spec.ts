import { FakePbxHttp } from './support/fake-pbx-http';
import { CreatedTenant, createTenant, startTestApp, TestApp } from './support/test-app';

/** POST /v1/tenants/:id/calls/originate: what a PBX's answer means to the caller of the API. */
describe('click-to-call through the tenant PBX source', () => {
  const pbx = new FakePbxHttp();
  let t: TestApp;
  let tenant: CreatedTenant;
  let sourceId: string;

  beforeAll(async () => {
    await pbx.start();
    t = await startTestApp();
    tenant = await createTenant(t);
    const source = await t.request('POST', `/v1/tenants/${tenant.id}/pbx-sources`, {
      body: { type: 'generic', config: { originateUrl: `${pbx.url}/originate` } },
    });
    sourceId = source.body.id;
  });

  afterAll(async () => {
    await t.close();
    await pbx.stop();
  });

  const originate = (to = '+79161234567') =>
    t.request('POST', `/v1/tenants/${tenant.id}/calls/originate`, {
      body: { extension: '101', to },
    });

  afterEach(() => {
    pbx.originateStatus = 200;
  });

  it('answers 202 once the PBX took the request', async () => {
    const res = await originate();
    expect(res.status).toBe(202);
    expect(res.body.requestId).toEqual(expect.any(String));
  });

  it('answers 422 when the PBX refuses the call (an extension it does not know)', async () => {
    pbx.originateStatus = 404;
    const res = await originate();
    expect(res.status).toBe(422);
    expect(res.body.message).toBe('click-to-call failed: the PBX refused the call (HTTP 404)');
  });

  it('answers 503 when the PBX fails or cannot be reached', async () => {
    pbx.originateStatus = 502;
    expect((await originate()).status).toBe(503);
    await t.request('PATCH', `/v1/tenants/${tenant.id}/pbx-sources/${sourceId}`, {
      body: { config: { originateUrl: 'http://127.0.0.1:1/originate' } },
    });
    try {
      const res = await originate();
      expect(res.status).toBe(503);
      expect(res.body.message).toContain('click-to-call failed: the PBX did not take the call');
    } finally {
      await t.request('PATCH', `/v1/tenants/${tenant.id}/pbx-sources/${sourceId}`, {
        body: { config: { originateUrl: `${pbx.url}/originate` } },
      });
    }
  });

  it('answers 400 naming the number when it is not a phone number', async () => {
    const res = await originate('call me');
    expect(res.status).toBe(400);
    expect(res.body.message).toContain('to must be a phone number');
  });
});
