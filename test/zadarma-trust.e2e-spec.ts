import { RetailcrmSandbox } from '../connectors/retailcrm/retailcrm.sandbox';
import {
  CreatedTenant,
  createTenant,
  eventually,
  startTestApp,
  TestApp,
  TestResponse,
} from './support/test-app';
import {
  encodeForm,
  FakeZadarmaApi,
  moscowWallClock,
  ZadarmaSimulator,
  ZadarmaWebhook,
} from './support/zadarma-simulator';

const KEY = 'zd-user-key-0001';
const SECRET = 'zd-api-secret-0123456789abcdef';
const HOUR = 3600_000;

/** Replays, repeats and where notifications may come from. Every request goes to loopback. */
describe('Zadarma ingress trust', () => {
  const api = new FakeZadarmaApi(KEY, SECRET);
  const sim = new ZadarmaSimulator(SECRET);
  let t: TestApp;

  beforeAll(async () => {
    await api.start();
    t = await startTestApp();
  }, 60000);
  afterAll(async () => {
    await t?.close();
    await api.stop();
  });

  async function zadarmaTenant(
    app: TestApp,
    config: Record<string, unknown> = {},
    name = 'Zadarma shop',
  ): Promise<CreatedTenant> {
    const tenant = await createTenant(app, { name });
    const created = await app.request('POST', `/v1/tenants/${tenant.id}/pbx-sources`, {
      body: {
        type: 'zadarma',
        config: { apiUrl: api.url, ...config },
        credentials: { key: KEY, secret: SECRET },
      },
    });
    expect(created.status).toBe(201);
    return tenant;
  }

  function deliver(
    app: TestApp,
    tenantId: string,
    w: ZadarmaWebhook,
    headers: Record<string, string> = {},
  ): Promise<TestResponse> {
    const enc = encodeForm(w.fields);
    return app.request('POST', `/v1/pbx/${tenantId}/zadarma`, {
      rawBody: enc.body,
      headers: { 'content-type': enc.contentType, signature: w.signature, ...headers },
      admin: false,
    });
  }

  const storedFor = async (app: TestApp, tenantId: string, callId: string): Promise<number> => {
    const [row] = await app.db.query(
      'SELECT COUNT(*) AS n FROM call_events WHERE tenant_id = ? AND call_id = ?',
      [tenantId, callId],
    );
    return Number(row.n);
  };

  describe('replayed notifications (call_start far from now)', () => {
    let tenant: CreatedTenant;
    beforeAll(async () => {
      tenant = await zadarmaTenant(t);
    });

    it.each([
      ['3 h old', -3 * HOUR, /"[0-9: -]+" in Europe\/Moscow is 3\.0 h in the past/],
      ['a day old', -24 * HOUR, /is 24\.0 h in the past/],
      ['3 h ahead', 3 * HOUR, /is 3\.0 h in the future/],
    ])(
      'refuses a correctly signed NOTIFY_START %s with a 400 naming call_start',
      async (_n, shift, detail) => {
        const call = sim.answeredCall({ callStart: moscowWallClock(Date.now() + shift) });
        const res = await deliver(t, tenant.id, call.webhooks[0]);
        expect(res.status).toBe(400);
        expect(res.body.message).toMatch(/^call_start must be within 2 h of the hub's clock/);
        expect(res.body.message).toMatch(detail);
        expect(await storedFor(t, tenant.id, call.pbxCallId)).toBe(0);
        // The same notification again is refused the same way (Zadarma may re-deliver it).
        expect((await deliver(t, tenant.id, call.webhooks[0])).status).toBe(400);
      },
    );

    it('refuses every event of an old call, and takes one an hour old', async () => {
      const old = sim.answeredCall({ callStart: moscowWallClock(Date.now() - 5 * HOUR) });
      for (const w of old.webhooks) {
        const res = await deliver(t, tenant.id, w);
        expect({ event: w.fields.event, status: res.status }).toEqual({
          event: w.fields.event,
          status: 400,
        });
      }
      const outbound = sim.outboundCall({ callStart: moscowWallClock(Date.now() - 5 * HOUR) });
      for (const w of outbound.webhooks) expect((await deliver(t, tenant.id, w)).status).toBe(400);
      expect(await storedFor(t, tenant.id, old.pbxCallId)).toBe(0);
      expect(await storedFor(t, tenant.id, outbound.pbxCallId)).toBe(0);

      const recent = sim.answeredCall({ callStart: moscowWallClock(Date.now() - HOUR) });
      for (const w of recent.webhooks) expect((await deliver(t, tenant.id, w)).status).toBe(200);
      expect(await storedFor(t, tenant.id, recent.pbxCallId)).toBe(4);
    });

    it('takes the end of a call that lasted longer than the window', async () => {
      const callStart = moscowWallClock(Date.now() - 3 * HOUR);
      const call = sim.answeredCall({ callStart, duration: 3 * 3600 - 60 });
      const end = call.webhooks[3];
      expect(end.fields.event).toBe('NOTIFY_END');
      expect((await deliver(t, tenant.id, end)).status).toBe(200);
      expect(await storedFor(t, tenant.id, call.pbxCallId)).toBe(1);
    });

    it("reads call_start on the tenant's time zone", async () => {
      // 13:00 on a Moscow-zoned account's clock is 10:00 UTC; read as Vladivostok (UTC+10) it
      // would be 03:00 UTC: seven hours off.
      const vl = await zadarmaTenant(t, {}, 'Far East');
      await t.request('PATCH', `/v1/tenants/${vl.id}`, { body: { timezone: 'Asia/Vladivostok' } });
      const call = sim.answeredCall({ callStart: moscowWallClock() });
      const res = await eventually(
        () => deliver(t, vl.id, call.webhooks[0]),
        (r) => r.status === 400,
      );
      expect(res.body.message).toMatch(/in Asia\/Vladivostok is 7\.0 h in the past/);
    });
  });

  describe('repeated notifications', () => {
    const crm = new RetailcrmSandbox();
    let shop: CreatedTenant;

    beforeAll(async () => {
      await crm.start();
      crm.addUser({ id: 27, firstName: 'Ivan', lastName: 'Petrov', code: '101' });
      shop = await zadarmaTenant(t, {}, 'CRM shop');
      const integ = await t.request('POST', `/v1/tenants/${shop.id}/integrations`, {
        body: {
          connector: 'retailcrm',
          config: { url: crm.url },
          credentials: { apiKey: crm.apiKey },
        },
      });
      expect(integ.status).toBe(201);
      await t.request('PUT', `/v1/tenants/${shop.id}/agents`, {
        body: [{ extension: '101', name: 'Ivan', crmUsers: { [integ.body.id]: '27' } }],
      });
    }, 30000);
    afterAll(() => crm.stop());

    const uploadsOf = (callId: string) =>
      crm.requests.filter(
        (r) =>
          r.path.endsWith('/telephony/calls/upload') &&
          ((r as { form?: { calls?: { externalId: string }[] } }).form?.calls ?? []).some(
            (c) => c.externalId === callId,
          ),
      );

    it('turns the same NOTIFY_END delivered twice into one call end and one CRM log', async () => {
      const call = sim.answeredCall({ callStart: moscowWallClock(Date.now() - 120_000) });
      const [start, ringing, answer, end] = call.webhooks;
      for (const w of [start, ringing, answer])
        expect((await deliver(t, shop.id, w)).status).toBe(200);
      // Twice at once, as a retry racing the original would arrive.
      const both = await Promise.all([deliver(t, shop.id, end), deliver(t, shop.id, end)]);
      expect(both.map((r) => r.status)).toEqual([200, 200]);

      const detail = () => t.request('GET', `/v1/tenants/${shop.id}/calls/${call.pbxCallId}`);
      const logged = await eventually(
        detail,
        (r) => r.body?.integrations?.[0]?.actions?.log?.status === 'done',
        20000,
      );
      expect(logged.body).toMatchObject({ status: 'ended', result: 'answered', duration: 95 });
      // Once more after the log was sent.
      expect((await deliver(t, shop.id, end)).status).toBe(200);
      await new Promise((r) => setTimeout(r, 1500));

      const after = await detail();
      const ends = after.body.events.filter((e: { type: string }) => e.type === 'call.ended');
      expect(ends).toHaveLength(1);
      expect(await storedFor(t, shop.id, call.pbxCallId)).toBe(4);
      expect(after.body.integrations[0].actions.log).toMatchObject({ status: 'done', attempts: 1 });
      expect(uploadsOf(call.pbxCallId)).toHaveLength(1);
      expect(crm.uploadedCalls.has(call.pbxCallId)).toBe(true);
    }, 40000);
  });

  describe('sender allow-list (config.allowedSenders)', () => {
    it.each([
      [['10.0.0.0/33'], 'config.allowedSenders'],
      [['zadarma.com'], 'config.allowedSenders'],
      [[], 'config.allowedSenders'],
      ['185.45.152.0/24', 'config.allowedSenders'],
      [[42], 'config.allowedSenders'],
    ])('refuses allowedSenders %j with a 400 naming %s', async (allowedSenders, field) => {
      const tenant = await createTenant(t);
      const res = await t.request('POST', `/v1/tenants/${tenant.id}/pbx-sources`, {
        body: {
          type: 'zadarma',
          config: { allowedSenders },
          credentials: { key: KEY, secret: SECRET },
        },
      });
      expect(res.status).toBe(400);
      expect(res.body.message).toContain(field);
    });

    it('refuses a signed notification from an address outside the list with 403', async () => {
      const tenant = await zadarmaTenant(t, { allowedSenders: ['10.0.0.0/8', '185.45.152.0/24'] });
      const source = await t.request('GET', `/v1/tenants/${tenant.id}/pbx-sources`);
      expect(source.body[0].config.allowedSenders).toEqual(['10.0.0.0/8', '185.45.152.0/24']);
      const call = sim.answeredCall();
      const res = await deliver(t, tenant.id, call.webhooks[0]);
      expect(res.status).toBe(403);
      expect(res.body.message).toMatch(
        /^sender 127\.0\.0\.1 is not in config\.allowedSenders of this tenant's Zadarma PBX source/,
      );
      // HUB_TRUST_PROXY is off by default: a forwarded-for header changes nothing.
      const spoofed = await deliver(t, tenant.id, call.webhooks[0], {
        'x-forwarded-for': '10.1.2.3',
      });
      expect(spoofed.status).toBe(403);
      expect(await storedFor(t, tenant.id, call.pbxCallId)).toBe(0);
      // A bad signature is still a 401 first: the list does not tell strangers anything.
      const forged = new ZadarmaSimulator('not-the-secret').webhook(call.webhooks[0].fields);
      expect((await deliver(t, tenant.id, forged)).status).toBe(401);
    });

    it('takes notifications from an address on the list', async () => {
      const tenant = await zadarmaTenant(t, { allowedSenders: ['127.0.0.1/32'] });
      const call = sim.answeredCall();
      expect((await deliver(t, tenant.id, call.webhooks[0])).status).toBe(200);
      expect(await storedFor(t, tenant.id, call.pbxCallId)).toBe(1);
    });

    describe('behind a proxy (HUB_TRUST_PROXY=127.0.0.1)', () => {
      let proxied: TestApp;
      beforeAll(async () => {
        proxied = await startTestApp({ HUB_TRUST_PROXY: '127.0.0.1' });
      }, 60000);
      afterAll(() => proxied?.close());

      it('checks the client address the trusted proxy reports', async () => {
        const tenant = await zadarmaTenant(proxied, { allowedSenders: ['10.0.0.0/8'] });
        const call = sim.answeredCall();
        const start = call.webhooks[0];
        const outside = await deliver(proxied, tenant.id, start, {
          'x-forwarded-for': '192.0.2.10',
        });
        expect(outside.status).toBe(403);
        expect(outside.body.message).toMatch(/^sender 192\.0\.2\.10 is not in/);
        // No header: the proxy itself (127.0.0.1) is the client.
        expect((await deliver(proxied, tenant.id, start)).status).toBe(403);
        expect(await storedFor(proxied, tenant.id, call.pbxCallId)).toBe(0);
        const inside = await deliver(proxied, tenant.id, start, {
          'x-forwarded-for': '10.1.2.3',
        });
        expect(inside.status).toBe(200);
        expect(await storedFor(proxied, tenant.id, call.pbxCallId)).toBe(1);
      });
    });
  });
});
