import { RetailcrmSandbox } from '../connectors/retailcrm/retailcrm.sandbox';
import { FakePbxHttp } from './support/fake-pbx-http';
import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  startTestApp,
  TestApp,
  TestResponse,
} from './support/test-app';

/**
 * Object-level isolation: a tenant's key reaches its own objects only. Another tenant's
 * integration, PBX source, call or key is 404 on the caller's own path (its id is not
 * found there, whatever it is), the other tenant's path is 401, and nothing of the other
 * tenant changes whatever the caller sends.
 */
describe("one tenant cannot read or change another's objects", () => {
  const crm = new RetailcrmSandbox();
  const pbx = new FakePbxHttp();
  let t: TestApp;
  let a: CreatedTenant;
  let b: CreatedTenant;
  const ids = { integration: '', source: '', key: '', call: 'iso-b-call-1' };
  const asKey = (key: string) => ({ 'x-api-key': key });
  const asA = () => ({ headers: asKey(a.apiKey) });
  const asB = () => ({ headers: asKey(b.apiKey) });

  /** Everything B owns, as B itself reads it. */
  async function snapshotOfB(): Promise<Record<string, unknown>> {
    const read = async (path: string) => {
      const res = await t.request('GET', `/v1/tenants/${b.id}${path}`, asB());
      return { status: res.status, body: res.body as unknown };
    };
    return {
      tenant: await read(''),
      integration: await read(`/integrations/${ids.integration}`),
      source: await read(`/pbx-sources/${ids.source}`),
      call: await read(`/calls/${ids.call}`),
      keys: await read('/keys'),
      agents: await read('/agents'),
    };
  }

  beforeAll(async () => {
    await Promise.all([crm.start(), pbx.start()]);
    t = await startTestApp();
    a = await createTenant(t, { name: 'Tenant A' });
    b = await createTenant(t, { name: 'Tenant B' });
    const integ = await t.request('POST', `/v1/tenants/${b.id}/integrations`, {
      body: {
        connector: 'retailcrm',
        config: { url: crm.url },
        credentials: { apiKey: crm.apiKey },
      },
      ...asB(),
    });
    expect(integ.status).toBe(201);
    ids.integration = integ.body.id;
    const source = await t.request('POST', `/v1/tenants/${b.id}/pbx-sources`, {
      body: { type: 'generic', config: { originateUrl: `${pbx.url}/originate` } },
      ...asB(),
    });
    expect(source.status).toBe(201);
    ids.source = source.body.id;
    const key = await t.request('POST', `/v1/tenants/${b.id}/keys`, {
      body: { name: 'pbx', scope: 'pbx' },
      ...asB(),
    });
    expect(key.status).toBe(201);
    ids.key = key.body.id;
    const agents = await t.request('PUT', `/v1/tenants/${b.id}/agents`, {
      body: [{ extension: '101', name: 'Ivan', crmUsers: { [ids.integration]: '27' } }],
      ...asB(),
    });
    expect(agents.status).toBe(200);
    const at = new Date().toISOString();
    const posted = await postEvents(t, b, {
      events: [
        {
          id: 'iso-1',
          callId: ids.call,
          type: 'call.ringing',
          direction: 'internal',
          from: '101',
          to: '102',
          extension: '102',
          at,
        },
        { id: 'iso-2', callId: ids.call, type: 'call.ended', result: 'missed', at },
      ],
    });
    expect(posted.status).toBe(202);
    await eventually(
      () => t.request('GET', `/v1/tenants/${b.id}/calls/${ids.call}`, asB()),
      (r) => r.status === 200 && r.body.status === 'missed',
      15000,
    );
  }, 60000);
  afterAll(async () => {
    await t?.close();
    await Promise.all([crm.stop(), pbx.stop()]);
  });

  it("answers 404 for B's ids on A's own path, for every method, and B is unchanged", async () => {
    const before = await snapshotOfB();
    expect(before.call).toMatchObject({ status: 200 });
    const tries: [string, string, unknown?][] = [
      ['GET', `/integrations/${ids.integration}`],
      ['PATCH', `/integrations/${ids.integration}`, { enabled: false }],
      ['DELETE', `/integrations/${ids.integration}`],
      ['GET', `/pbx-sources/${ids.source}`],
      ['PATCH', `/pbx-sources/${ids.source}`, { config: { originateUrl: `${pbx.url}/a` } }],
      ['DELETE', `/pbx-sources/${ids.source}`],
      ['GET', `/calls/${ids.call}`],
      ['DELETE', `/keys/${ids.key}`],
    ];
    for (const [method, path, body] of tries) {
      const res: TestResponse = await t.request(method, `/v1/tenants/${a.id}${path}`, {
        body,
        ...asA(),
      });
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 404 });
      expect(res.text).not.toContain('Tenant B');
      expect(res.text).not.toContain(crm.url);
    }
    // A's own lists do not show B's objects either.
    for (const path of ['/integrations', '/pbx-sources', '/calls', '/keys']) {
      const res = await t.request('GET', `/v1/tenants/${a.id}${path}`, asA());
      expect(res.status).toBe(200);
      for (const id of [ids.integration, ids.source, ids.key, ids.call]) {
        expect(res.text).not.toContain(id);
      }
    }
    expect(await snapshotOfB()).toEqual(before);
  });

  it("answers 401 for anything on B's path with A's key, and B is unchanged", async () => {
    const before = await snapshotOfB();
    const tries: [string, string, unknown?][] = [
      ['GET', ''],
      ['PATCH', '', { name: 'Taken over' }],
      ['POST', '/rotate-secrets', {}],
      ['GET', `/integrations/${ids.integration}`],
      ['PATCH', `/integrations/${ids.integration}`, { enabled: false }],
      ['DELETE', `/integrations/${ids.integration}`],
      [
        'POST',
        '/integrations',
        { connector: 'retailcrm', config: { url: crm.url }, credentials: { apiKey: 'x' } },
      ],
      ['GET', `/pbx-sources/${ids.source}`],
      ['PATCH', `/pbx-sources/${ids.source}`, { config: { originateUrl: `${pbx.url}/a` } }],
      ['DELETE', `/pbx-sources/${ids.source}`],
      ['GET', '/calls'],
      ['GET', `/calls/${ids.call}`],
      ['POST', '/calls/originate', { extension: '101', to: '+79161234567' }],
      ['GET', '/keys'],
      ['POST', '/keys', { name: 'mine', scope: 'admin' }],
      ['DELETE', `/keys/${ids.key}`],
      ['GET', '/agents'],
      ['PUT', '/agents', [{ extension: '999', crmUsers: {} }]],
    ];
    for (const [method, path, body] of tries) {
      const res = await t.request(method, `/v1/tenants/${b.id}${path}`, { body, ...asA() });
      expect({ method, path, status: res.status }).toEqual({ method, path, status: 401 });
      expect(res.text).not.toContain('Tenant B');
    }
    expect(pbx.originates).toHaveLength(0);
    expect(await snapshotOfB()).toEqual(before);
  });
});
