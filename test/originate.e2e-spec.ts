import { RetailcrmSandbox } from '../connectors/retailcrm/retailcrm.sandbox';
import { FakePbxHttp } from './support/fake-pbx-http';
import { CreatedTenant, createTenant, eventually, startTestApp, TestApp } from './support/test-app';

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

  describe('destination policy (tenant dialPolicy)', () => {
    const sentTo = () => pbx.originates.map((o) => JSON.parse(o.raw).to as string);
    const patchPolicy = (dialPolicy: unknown) =>
      t.request('PATCH', `/v1/tenants/${tenant.id}`, { body: { dialPolicy } });
    afterEach(async () => {
      expect((await patchPolicy(null)).status).toBe(200);
    });

    it('shows the default: the tenant country only, nothing international or premium-rate', async () => {
      const res = await t.request('GET', `/v1/tenants/${tenant.id}`);
      expect(res.body.dialPolicy).toEqual({
        countries: ['RU'],
        allowInternational: false,
        allowPremium: false,
      });
    });

    it.each([
      ['+12125551234', /^to: international destinations are not allowed for this tenant/],
      ['8 10 44 20 7946 0958', /^to: international destinations are not allowed/],
      ['+77011234567', /^to: international destinations are not allowed/],
      ['8-809-505-12-34', /^to: premium-rate numbers are not allowed for this tenant/],
      ['+7 809 505 12 34', /^to: premium-rate numbers are not allowed/],
      ['+7 803 100 00 00', /^to: premium-rate numbers are not allowed/],
    ])('refuses %s with 403 naming the rule, and the PBX hears nothing', async (to, message) => {
      const before = pbx.originates.length;
      const res = await originate(to);
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({ statusCode: 403, error: 'Forbidden' });
      expect(res.body.message).toMatch(message);
      expect(pbx.originates.length).toBe(before);
    });

    it('dials domestic numbers and internal extensions', async () => {
      await t.request('PUT', `/v1/tenants/${tenant.id}/agents`, {
        body: [{ extension: 'sip-7', crmUsers: {} }],
      });
      const before = pbx.originates.length;
      for (const to of ['8 (495) 123-45-67', '+79161234567', '8 800 555-35-35', '102', 'sip-7']) {
        const res = await originate(to);
        expect({ to, status: res.status }).toEqual({ to, status: 202 });
      }
      expect(sentTo().slice(before)).toEqual([
        '+74951234567',
        '+79161234567',
        '+78005553535',
        '102',
        'sip-7',
      ]);
    });

    it('dials more countries, international and premium-rate numbers only when allowed', async () => {
      expect((await patchPolicy({ countries: ['RU', 'KZ'] })).body.dialPolicy).toEqual({
        countries: ['RU', 'KZ'],
        allowInternational: false,
        allowPremium: false,
      });
      expect((await originate('+77011234567')).status).toBe(202);
      expect((await originate('+12125551234')).status).toBe(403);

      await patchPolicy({ allowInternational: true });
      expect((await originate('+12125551234')).status).toBe(202);
      // Premium-rate needs its own allow, abroad (US 1-900) and at home.
      expect((await originate('+19005551234')).body.message).toMatch(/premium-rate/);
      expect((await originate('88095051234')).status).toBe(403);

      const both = await patchPolicy({ allowPremium: true });
      // The policy is replaced as a whole: countries are back to the default.
      expect(both.body.dialPolicy).toEqual({
        countries: ['RU'],
        allowInternational: false,
        allowPremium: true,
      });
      expect((await originate('88095051234')).status).toBe(202);
      expect((await originate('+12125551234')).status).toBe(403);
    });

    it.each([
      [{ countries: ['XX'] }, 'dialPolicy.countries'],
      [{ countries: 'RU' }, 'dialPolicy.countries'],
      [{ allowInternational: 'yes' }, 'dialPolicy.allowInternational'],
      [{ allowPremium: 1 }, 'dialPolicy.allowPremium'],
      [{ allowEverything: true }, 'allowEverything'],
      ['RU', 'dialPolicy'],
      [[{ allowPremium: true }], 'dialPolicy'],
    ])('refuses dialPolicy %j with a 400 naming %s', async (dialPolicy, field) => {
      const res = await patchPolicy(dialPolicy);
      expect(res.status).toBe(400);
      expect(res.body.message).toContain(field);
      const [row] = await t.db.query('SELECT dial_policy FROM tenants WHERE id = ?', [tenant.id]);
      expect(row.dial_policy).toBeNull();
    });

    describe('from a CRM click-to-call callback (RetailCRM makeCallUrl)', () => {
      const crm = new RetailcrmSandbox();
      let shop: CreatedTenant;
      let integrationId: string;
      let clientId: string;

      beforeAll(async () => {
        await crm.start();
        crm.addUser({ id: 27, firstName: 'Ivan', lastName: 'Petrov', code: '101' });
        shop = await createTenant(t, { name: 'Shop' });
        await t.request('POST', `/v1/tenants/${shop.id}/pbx-sources`, {
          body: { type: 'generic', config: { originateUrl: `${pbx.url}/originate` } },
        });
        const integ = await t.request('POST', `/v1/tenants/${shop.id}/integrations`, {
          body: {
            connector: 'retailcrm',
            config: { url: crm.url },
            credentials: { apiKey: crm.apiKey },
          },
        });
        expect(integ.status).toBe(201);
        integrationId = integ.body.id;
        await t.request('PUT', `/v1/tenants/${shop.id}/agents`, {
          body: [{ extension: '101', crmUsers: { [integrationId]: '27' } }],
        });
        const module = await eventually(
          async () => crm.modules.get('telephony-hub') as { clientId?: string } | undefined,
          (m) => typeof m?.clientId === 'string',
          15000,
        );
        clientId = module!.clientId!;
      }, 30000);
      afterAll(() => crm.stop());

      const makeCall = (phone: string) =>
        t.request(
          'GET',
          `/v1/crm/retailcrm/${integrationId}/make-call?clientId=${clientId}&code=101&phone=${encodeURIComponent(phone)}&userId=27`,
          { admin: false },
        );

      it('refuses a number outside the policy with 403 naming the rule', async () => {
        const before = pbx.originates.length;
        const res = await makeCall('+12125551234');
        expect(res.status).toBe(403);
        expect(res.body.message).toMatch(/^to: international destinations are not allowed/);
        const premium = await makeCall('88095051234');
        expect(premium.status).toBe(403);
        expect(premium.body.message).toMatch(/^to: premium-rate numbers are not allowed/);
        expect(pbx.originates.length).toBe(before);

        expect((await makeCall('89161234567')).status).toBe(200);
        expect(sentTo().slice(before)).toEqual(['+79161234567']);
      });
    });
  });
});
