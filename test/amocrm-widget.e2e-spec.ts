import { AmocrmSandbox } from '../connectors/amocrm/amocrm.sandbox';
import { inboundCall } from './support/call-events';
import { seedWidgetAccount, widgetTenant } from './support/amocrm-widget';
import { FakePbxHttp } from './support/fake-pbx-http';
import { SseStream } from './support/sse';
import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  startTestApp,
  TestApp,
} from './support/test-app';

const KNOWN = '+79161234567';

/**
 * The amoCRM widget's routes: a session from amoCRM's disposable token (signature, audience
 * and expiry checked), a stream of that user's calls, click-to-call from their extension.
 */
describe('amoCRM widget routes', () => {
  const amo = new AmocrmSandbox();
  const pbx = new FakePbxHttp();
  let t: TestApp;
  let tenant: CreatedTenant;
  let integrationId: string;
  let audience: string;
  const open: SseStream[] = [];

  const base = () => `/v1/crm/amocrm/${integrationId}/widget`;
  const session = (token: string) =>
    t.request('POST', `${base()}/session`, {
      headers: { authorization: `Bearer ${token}` },
      admin: false,
    });
  const stream = async (ticket: string) => {
    const s = await SseStream.open(`${t.url}${base()}/stream?ticket=${encodeURIComponent(ticket)}`);
    open.push(s);
    return s;
  };

  beforeAll(async () => {
    seedWidgetAccount(amo, KNOWN);
    amo.addUser({ id: 5003, name: 'No extension' });
    await Promise.all([amo.start(), pbx.start()]);
    t = await startTestApp();
    audience = new URL(t.config.publicUrl).origin;
    tenant = await createTenant(t, { name: 'Widget shop' });
    integrationId = await widgetTenant(t, tenant, amo, pbx);
  }, 60000);
  afterAll(async () => {
    for (const s of open) s.close();
    await t?.close();
    await Promise.all([amo.stop(), pbx.stop()]);
  });

  it('refuses a token with a bad signature, another audience, or past its expiry', async () => {
    for (const token of [
      amo.disposableToken(5001, audience, { secret: 'not-the-secret-key' }),
      amo.disposableToken(5001, 'https://other-hub.example.com'),
      amo.disposableToken(5001, audience, { ttlS: -120 }),
      amo.disposableToken(5001, audience, { claims: { client_uuid: 'another-integration' } }),
      'not.a.jwt',
    ]) {
      const res = await session(token);
      expect(res.status).toBe(401);
      expect(res.body.message).toMatch(/^widget token refused: /);
    }
    expect((await t.request('POST', `${base()}/session`, { admin: false })).status).toBe(401);
  });

  it("gives a ticket for one stream, which carries only that user's calls, with the contact", async () => {
    // An earlier call of the client, which the card lists.
    const earlier = inboundCall('w-0', KNOWN, { ring: ['102'], answeredBy: '102' });
    await postEvents(t, tenant, { events: [...earlier.start, ...earlier.end] });
    await eventually(
      () => t.request('GET', `/v1/tenants/${tenant.id}/calls/w-0`),
      (r) => r.body?.status === 'ended',
      10000,
    );
    const ivan = await session(amo.disposableToken(5001, audience));
    expect(ivan.status).toBe(200);
    expect(ivan.body).toMatchObject({ ticket: expect.stringMatching(/^wt_/), extension: '101' });
    expect(ivan.headers.get('access-control-allow-origin')).toBe('*');
    const olga = await session(amo.disposableToken(5002, audience));
    const ivanStream = await stream(ivan.body.ticket);
    const olgaStream = await stream(olga.body.ticket);
    expect(ivanStream.status).toBe(200);
    expect(ivanStream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    // A ticket opens one stream only.
    expect((await stream(ivan.body.ticket)).status).toBe(401);

    const call = inboundCall('w-1', KNOWN, { ring: ['101'], answeredBy: '101' });
    await postEvents(t, tenant, { events: call.start });
    const ringing = await ivanStream.next((e) => e.event === 'call.ringing');
    expect(ringing.data).toMatchObject({
      callId: 'w-1',
      direction: 'inbound',
      phone: KNOWN,
      line: '+74957654321',
      contact: {
        id: '7001',
        name: 'Anna Smirnova',
        url: `https://${amo.accountHost}/contacts/detail/7001`,
        responsible: { crmUserId: '5001' },
      },
      lastCalls: [
        {
          callId: 'w-0',
          startedAt: expect.any(String),
          direction: 'inbound',
          result: 'answered',
          duration: 60,
          extension: '102',
        },
      ],
    });
    await postEvents(t, tenant, { events: call.end });
    await ivanStream.next((e) => e.event === 'call.ended');
    expect(ivanStream.events.map((e) => e.event)).toEqual([
      'calls.now',
      'call.ringing',
      'call.answered',
      'call.ended',
    ]);
    // Olga's extension never rang: her stream saw nothing of it.
    await new Promise((r) => setTimeout(r, 300));
    expect(olgaStream.events).toEqual([{ event: 'calls.now', data: { callIds: [] } }]);
  });

  it("places click-to-call from the user's extension, and refuses a user without one", async () => {
    const res = await t.request('POST', `${base()}/call`, {
      headers: { authorization: `Bearer ${amo.disposableToken(5002, audience)}` },
      body: { phone: '+79161234567' },
      admin: false,
    });
    expect(res.status).toBe(202);
    await eventually(
      async () => pbx.originates.length,
      (n) => n === 1,
      5000,
    );
    expect(JSON.parse(pbx.originates[0].raw)).toMatchObject({
      extension: '102',
      to: '+79161234567',
    });

    const none = await t.request('POST', `${base()}/call`, {
      headers: { authorization: `Bearer ${amo.disposableToken(5003, audience)}` },
      body: { phone: '+79161234567' },
      admin: false,
    });
    expect(none.status).toBe(403);
    const bad = await t.request('POST', `${base()}/call`, {
      headers: { authorization: `Bearer ${amo.disposableToken(5002, audience)}` },
      body: { phone: 'call me' },
      admin: false,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('phone');
    expect(pbx.originates).toHaveLength(1);
  });

  it('gives a stream opened while a call rings that call at once, and the calls still going', async () => {
    const call = inboundCall('w-2', KNOWN, { ring: ['101'] });
    await postEvents(t, tenant, { events: call.start });
    await eventually(
      () => t.request('GET', `/v1/tenants/${tenant.id}/calls/w-2`),
      (r) => r.body?.status === 'ringing',
      10000,
    );
    const ivan = await session(amo.disposableToken(5001, audience));
    const late = await stream(ivan.body.ticket);
    const ringing = await late.next((e) => e.event === 'call.ringing');
    expect(ringing.data).toMatchObject({ callId: 'w-2', phone: KNOWN, contact: { id: '7001' } });
    const now = await late.next((e) => e.event === 'calls.now');
    expect(now.data).toEqual({ callIds: ['w-2'] });
    await postEvents(t, tenant, { events: call.end });
    await late.next((e) => e.event === 'call.ended');
    const again = await stream((await session(amo.disposableToken(5001, audience))).body.ticket);
    expect((await again.next((e) => e.event === 'calls.now')).data).toEqual({ callIds: [] });
    expect(again.events.filter((e) => e.event === 'call.ringing')).toEqual([]);
  });
});
