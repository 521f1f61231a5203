import type { LookupAddress } from 'node:dns';
import { createServer as createHttpServer, Server as HttpServer } from 'node:http';
import { createServer, Server, Socket } from 'node:net';
import { RetailcrmSandbox } from '../connectors/retailcrm/retailcrm.sandbox';
import { HostResolver } from '../src/common/outbound-policy';
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

/**
 * The outbound policy end to end. The shared test env allows exactly 127.0.0.1 (where every
 * sandbox listens); 127.0.0.2 and [::1] stand in for internal targets. Each of them runs a
 * server that counts connections: it must see none, because the hub refuses before it
 * connects. Nothing here sends traffic anywhere but loopback.
 */
class InternalTarget {
  private server?: Server;
  connections = 0;
  port = 0;

  constructor(readonly host: '127.0.0.2' | '::1') {}

  async start(port = 0): Promise<this> {
    this.server = createServer((s: Socket) => {
      this.connections += 1;
      s.end(
        'HTTP/1.1 200 OK\r\ncontent-type: audio/mpeg\r\ncontent-length: 15\r\n\r\nINTERNAL-SECRET',
      );
    });
    await new Promise<void>((r) => this.server!.listen(port, this.host, r));
    this.port = (this.server.address() as { port: number }).port;
    return this;
  }

  url(path = '/'): string {
    return `http://${this.host === '::1' ? '[::1]' : this.host}:${this.port}${path}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }
}

const at = (s: number) => new Date(Date.UTC(2026, 10, 25, 9, 0, 0) + s * 1000).toISOString();

describe('outbound policy: no tenant-supplied address reaches an internal one', () => {
  const sandbox = new RetailcrmSandbox();
  const pbx = new FakePbxHttp();
  const v4 = new InternalTarget('127.0.0.2');
  const v6 = new InternalTarget('::1');
  let redirector: HttpServer;
  let redirectorUrl = '';
  const redirectorHits: string[] = [];
  let t: TestApp;
  let tenant: CreatedTenant;
  /** Host names the hub's resolver answers as the test says (DNS rebinding), others as usual. */
  const names = new Map<string, string>();

  beforeAll(async () => {
    await sandbox.start();
    sandbox.addUser({ id: 27, firstName: 'Ivan', lastName: 'Petrov', code: '101' });
    await pbx.start();
    // The same port as the fake PBX: a name that rebinds from 127.0.0.1 lands here.
    await v4.start(Number(new URL(pbx.url).port));
    await v6.start();
    redirector = createHttpServer((req, res) => {
      redirectorHits.push(req.url ?? '');
      res.writeHead(302, { location: v4.url('/rec.mp3') }).end();
    });
    await new Promise<void>((r) => redirector.listen(0, '127.0.0.1', r));
    redirectorUrl = `http://127.0.0.1:${(redirector.address() as { port: number }).port}`;
    t = await startTestApp({ HUB_PUBLIC_URL: 'http://127.0.0.1:1' });
    const resolver = t.app.get(HostResolver);
    const real = resolver.lookup.bind(resolver);
    jest
      .spyOn(resolver, 'lookup')
      .mockImplementation(async (host: string): Promise<LookupAddress[]> => {
        const address = names.get(host);
        return address ? [{ address, family: 4 }] : real(host);
      });
    tenant = await createTenant(t, { name: 'Outbound' });
  }, 60000);

  afterAll(async () => {
    await t.close();
    await sandbox.stop();
    await pbx.stop();
    await v4.stop();
    await v6.stop();
    await new Promise((r) => redirector.close(r));
  });

  afterEach(() => {
    expect({ v4: v4.connections, v6: v6.connections }).toEqual({ v4: 0, v6: 0 });
  });

  const integration = (config: Record<string, unknown>, tenantId = tenant.id) =>
    t.request('POST', `/v1/tenants/${tenantId}/integrations`, {
      body: { connector: 'retailcrm', config, credentials: { apiKey: sandbox.apiKey } },
    });
  const source = (body: Record<string, unknown>, tenantId = tenant.id) =>
    t.request('POST', `/v1/tenants/${tenantId}/pbx-sources`, { body });

  describe('configuration is refused at create and PATCH time, naming the field', () => {
    it('refuses an integration whose config.url is 127.0.0.2 or [::1]', async () => {
      for (const url of [v4.url(), v6.url()]) {
        const res = await integration({ url });
        expect({ status: res.status, message: res.body.message }).toEqual({
          status: 422,
          message: 'config.url: address not allowed',
        });
      }
      const list = await t.request('GET', `/v1/tenants/${tenant.id}/integrations`);
      expect(list.body).toEqual([]);
    });

    it('refuses a PATCH that points a working integration at 127.0.0.2', async () => {
      const other = await createTenant(t, { name: 'Patch' });
      const created = await integration({ url: sandbox.url }, other.id);
      expect(created.status).toBe(201);
      const path = `/v1/tenants/${other.id}/integrations/${created.body.id}`;
      const res = await t.request('PATCH', path, { body: { config: { url: v4.url() } } });
      expect({ status: res.status, message: res.body.message }).toEqual({
        status: 422,
        message: 'config.url: address not allowed',
      });
      expect((await t.request('GET', path)).body.config.url).toBe(sandbox.url);
    });

    it('refuses PBX sources pointing at refused addresses: originateUrl, apiUrl, AMI host', async () => {
      const cases: [Record<string, unknown>, string][] = [
        [
          { type: 'generic', config: { originateUrl: v4.url('/originate') } },
          'config.originateUrl',
        ],
        [
          { type: 'generic', config: { originateUrl: v6.url('/originate') } },
          'config.originateUrl',
        ],
        [
          { type: 'zadarma', config: { apiUrl: v6.url() }, credentials: { key: 'k', secret: 's' } },
          'config.apiUrl',
        ],
        [
          {
            type: 'asterisk',
            config: { host: '127.0.0.2', port: v4.port },
            credentials: { username: 'hub', secret: 's' },
          },
          'config.host',
        ],
        [
          {
            type: 'asterisk',
            config: { host: '::1', port: v6.port },
            credentials: { username: 'hub', secret: 's' },
          },
          'config.host',
        ],
      ];
      for (const [body, field] of cases) {
        const res = await source(body);
        expect({ status: res.status, message: res.body.message }).toEqual({
          status: 422,
          message: `${field}: address not allowed`,
        });
      }
      expect((await t.request('GET', `/v1/tenants/${tenant.id}/pbx-sources`)).body).toEqual([]);
    });

    it('refuses a PATCH of a generic source to 127.0.0.2', async () => {
      const other = await createTenant(t, { name: 'PatchSource' });
      const created = await source(
        { type: 'generic', config: { originateUrl: `${pbx.url}/originate` } },
        other.id,
      );
      expect(created.status).toBe(201);
      const res = await t.request(
        'PATCH',
        `/v1/tenants/${other.id}/pbx-sources/${created.body.id}`,
        {
          body: { config: { originateUrl: v4.url('/originate') } },
        },
      );
      expect({ status: res.status, message: res.body.message }).toEqual({
        status: 422,
        message: 'config.originateUrl: address not allowed',
      });
    });

    it("refuses the hub's own port although 127.0.0.1 is allowed", async () => {
      const res = await source({
        type: 'generic',
        config: { originateUrl: `${t.url}/health/live` },
      });
      expect({ status: res.status, message: res.body.message }).toEqual({
        status: 422,
        message: 'config.originateUrl: address not allowed',
      });
    });

    it('tells the tenant what failed without the address, port or socket text', async () => {
      const closed = await freePort();
      const res = await integration({ url: `http://127.0.0.1:${closed}` });
      expect(res.status).toBe(422);
      expect(res.body.message).toContain('connection refused');
      expect(res.body.message).not.toMatch(new RegExp(`ECONNREFUSED|127\\.0\\.0\\.1|${closed}`));
    });
  });

  describe('recording links', () => {
    const endedCall = async (callId: string, recordingUrl: string) => {
      const res = await postEvents(t, tenant, {
        events: [
          {
            id: `${callId}-s`,
            callId,
            type: 'call.started',
            direction: 'inbound',
            from: '+79161234567',
            to: '+74957654321',
            at: at(0),
          },
          {
            id: `${callId}-e`,
            callId,
            type: 'call.ended',
            result: 'answered',
            duration: 30,
            recordingUrl,
            at: at(40),
          },
        ],
      });
      expect(res.status).toBe(202);
      const call = await eventually(
        () => t.request('GET', `/v1/tenants/${tenant.id}/calls/${callId}`),
        (r) => r.status === 200 && typeof r.body.recordingLink === 'string',
      );
      return new URL(call.body.recordingLink as string).pathname;
    };

    it('never fetches a recording on 127.0.0.2 or [::1]: the link gives no body', async () => {
      for (const [callId, url] of [
        ['rec-v4', v4.url('/rec.mp3')],
        ['rec-v6', v6.url('/rec.mp3')],
      ]) {
        const res = await t.request('GET', await endedCall(callId, url), { admin: false });
        expect(res.status).toBe(403);
        expect(res.body.message).toBe('recordingUrl: address not allowed');
        expect(res.text).not.toContain('INTERNAL-SECRET');
      }
    });

    it('refuses a redirect from an allowed PBX to 127.0.0.2', async () => {
      const res = await t.request(
        'GET',
        await endedCall('rec-redirect', `${redirectorUrl}/rec.mp3`),
        {
          admin: false,
        },
      );
      expect(res.status).toBe(403);
      expect(res.text).not.toContain('INTERNAL-SECRET');
      expect(redirectorHits).toEqual(['/rec.mp3']);
    });

    it("refuses a recording URL on the hub's own port", async () => {
      const res = await t.request('GET', await endedCall('rec-self', `${t.url}/metrics`), {
        admin: false,
      });
      expect(res.status).toBe(403);
      expect(res.text).not.toContain('hub_');
    });
  });

  describe('at connect time', () => {
    it('refuses a host name that rebinds to 127.0.0.2 after the config check (click-to-call)', async () => {
      const other = await createTenant(t, { name: 'Rebind' });
      const port = new URL(pbx.url).port;
      names.set('pbx.rebind.test', '127.0.0.1');
      const created = await source(
        { type: 'generic', config: { originateUrl: `http://pbx.rebind.test:${port}/originate` } },
        other.id,
      );
      expect(created.status).toBe(201);
      const originate = () =>
        t.request('POST', `/v1/tenants/${other.id}/calls/originate`, {
          body: { extension: '101', to: '+79161234567' },
        });
      const before = pbx.originates.length;
      expect((await originate()).status).toBe(202);
      expect(pbx.originates).toHaveLength(before + 1);

      names.set('pbx.rebind.test', '127.0.0.2');
      const res = await originate();
      expect({ status: res.status, message: res.body.message }).toEqual({
        status: 422,
        message: 'click-to-call failed: config.originateUrl: address not allowed',
      });
      expect(pbx.originates).toHaveLength(before + 1);
    });

    it('holds an AMI host that rebinds to 127.0.0.2 off, visibly', async () => {
      const other = await createTenant(t, { name: 'Ami' });
      names.set('ami.rebind.test', '127.0.0.1');
      const created = await source(
        {
          type: 'asterisk',
          config: { host: 'ami.rebind.test', port: v4.port },
          credentials: { username: 'hub', secret: 's' },
        },
        other.id,
      );
      expect(created.status).toBe(201);
      names.set('ami.rebind.test', '127.0.0.2');
      const listed = await eventually(
        () => t.request('GET', `/v1/tenants/${other.id}/pbx-sources`),
        (r) => r.body?.[0]?.status === 'address_not_allowed',
        15000,
      );
      expect(listed.body[0]).toMatchObject({
        status: 'address_not_allowed',
        statusMessage: 'config.host: address not allowed',
      });
      await t.request('DELETE', `/v1/tenants/${other.id}/pbx-sources/${created.body.id}`);
    });

    it('fails a CRM action for a refused address once, finally, as address_not_allowed', async () => {
      const other = await createTenant(t, { name: 'Crm' });
      const created = await integration({ url: sandbox.url }, other.id);
      expect(created.status).toBe(201);
      const integrationId = created.body.id as string;
      await t.request('PUT', `/v1/tenants/${other.id}/agents`, {
        body: [{ extension: '101', name: 'Ivan', crmUsers: { [integrationId]: '27' } }],
      });
      // The install the agent map triggers writes the row too: let it finish first.
      await eventually(
        async () =>
          (await t.db.query('SELECT install_due_at AS due FROM integrations WHERE id = ?', [
            integrationId,
          ])) as { due: Date | null }[],
        (rows) => rows[0]?.due === null,
        15000,
      );
      // A row written before the policy existed (or by hand): the config check never saw it.
      // A later updated_at makes the runtime build the connector again from this config.
      await t.db.query(
        'UPDATE integrations SET config = JSON_SET(config, "$.url", ?), updated_at = updated_at + INTERVAL 1 SECOND WHERE id = ?',
        [v4.url(), integrationId],
      );
      const sent = sandbox.requests.length;
      const callId = 'crm-refused';
      await postEvents(t, other, {
        events: [
          {
            id: `${callId}-s`,
            callId,
            type: 'call.started',
            direction: 'inbound',
            from: '+79161234567',
            to: '+74957654321',
            at: new Date().toISOString(),
          },
          {
            id: `${callId}-r`,
            callId,
            type: 'call.ringing',
            extension: '101',
            at: new Date().toISOString(),
          },
        ],
      });
      const call = await eventually(
        () => t.request('GET', `/v1/tenants/${other.id}/calls/${callId}`),
        (r) => r.body?.integrations?.[0]?.actions?.pop?.status === 'failed',
        15000,
      );
      const pop = call.body.integrations[0].actions.pop;
      expect(pop).toMatchObject({ status: 'failed', attempts: 1 });
      expect(pop.lastError).toBe('address_not_allowed: config.url: address not allowed');
      expect(sandbox.requests.length).toBe(sent);
      const metrics = await t.request('GET', '/metrics');
      expect(metrics.text).toMatch(
        /hub_crm_actions_failed_total\{connector="retailcrm",action="pop",reason="address_not_allowed"\} 1/,
      );
    });
  });
});
