import { PbxSourcesService } from '../src/pbx/pbx-sources.service';
import { RoutingService } from '../src/routing/routing.service';
import { PbxError } from '../src/pbx/pbx-adapter';
import { ZadarmaOriginator } from '../src/pbx/zadarma/zadarma.originator';
import { RetailcrmSandbox } from '../connectors/retailcrm/retailcrm.sandbox';
import { RecordingLinks } from '../src/recordings/recording-links.service';
import { parseMultipartFields } from '../src/pbx/zadarma/zadarma-multipart';
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
  encodeMultipart,
  FakeZadarmaApi,
  Fields,
  moscowToIso,
  moscowWallClock,
  ScriptedCall,
  ZadarmaSimulator,
  ZadarmaWebhook,
} from './support/zadarma-simulator';

const KEY = 'zd-user-key-0001';
const SECRET = 'zd-api-secret-0123456789abcdef';
const BUDGET_MS = 400;

type Encoding = 'form' | 'multipart' | 'multipart-bug';

describe('Zadarma PBX ingress /v1/pbx/:tenantId/zadarma', () => {
  const api = new FakeZadarmaApi(KEY, SECRET);
  const sim = new ZadarmaSimulator(SECRET);
  const forger = new ZadarmaSimulator('not-the-api-secret');
  let t: TestApp;
  let tenant: CreatedTenant;
  let sourceId: string;

  beforeAll(async () => {
    await api.start();
    t = await startTestApp();
    tenant = await createTenant(t, { name: 'Zadarma shop', routingBudgetMs: BUDGET_MS });
    const created = await t.request('POST', `/v1/tenants/${tenant.id}/pbx-sources`, {
      body: {
        type: 'zadarma',
        config: { apiUrl: api.url },
        credentials: { key: KEY, secret: SECRET },
      },
    });
    expect(created.status).toBe(201);
    sourceId = created.body.id;
  }, 60000);
  afterAll(async () => {
    await t?.close();
    await api.stop();
  });

  function deliver(
    w: ZadarmaWebhook | Fields,
    opts: { encoding?: Encoding; tenantId?: string; signature?: string | null } = {},
  ): Promise<TestResponse> {
    const fields = 'fields' in w ? (w as ZadarmaWebhook).fields : (w as Fields);
    const enc =
      opts.encoding === 'multipart' || opts.encoding === 'multipart-bug'
        ? encodeMultipart(fields, { boundaryBug: opts.encoding === 'multipart-bug' })
        : encodeForm(fields);
    const headers: Record<string, string> = { 'content-type': enc.contentType };
    const signature =
      opts.signature === undefined ? (w as ZadarmaWebhook).signature : opts.signature;
    if (signature !== null && signature !== undefined) headers.signature = signature;
    return t.request('POST', `/v1/pbx/${opts.tenantId ?? tenant.id}/zadarma`, {
      rawBody: enc.body,
      headers,
      admin: false,
    });
  }

  async function deliverAll(call: ScriptedCall, encoding: Encoding = 'form'): Promise<void> {
    for (const w of call.webhooks) {
      const res = await deliver(w, { encoding });
      expect({ event: w.fields.event, status: res.status, text: res.text }).toMatchObject({
        status: 200,
      });
    }
  }

  const storedFor = async (callId: string): Promise<number> => {
    const [row] = await t.db.query(
      'SELECT COUNT(*) AS n FROM call_events WHERE tenant_id = ? AND call_id = ?',
      [tenant.id, callId],
    );
    return Number(row.n);
  };
  const callOf = (callId: string) => t.request('GET', `/v1/tenants/${tenant.id}/calls/${callId}`);
  const settledCall = (
    callId: string,
    events: number,
    extra: (b: Record<string, unknown>) => boolean = () => true,
  ) =>
    eventually(
      () => callOf(callId),
      (r) =>
        r.status === 200 &&
        r.body.events.length === events &&
        r.body.events.every((e: { processed: boolean }) => e.processed) &&
        extra(r.body),
      15000,
    );

  describe('URL check (zd_echo)', () => {
    it('echoes the token as plain text without any signature', async () => {
      const res = await t.request('GET', `/v1/pbx/${tenant.id}/zadarma?zd_echo=8c1f2a77e1`, {
        admin: false,
      });
      expect(res.status).toBe(200);
      expect(res.text).toBe('8c1f2a77e1');
      expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    });

    it('also echoes a token posted as a form field', async () => {
      const res = await deliver({ zd_echo: 'abc-123' }, { signature: null });
      expect(res.status).toBe(200);
      expect(res.text).toBe('abc-123');
    });

    it.each([
      ['missing', ''],
      ['markup', '?zd_echo=%3Cscript%3E'],
      ['too long', `?zd_echo=${'a'.repeat(129)}`],
      ['empty', '?zd_echo='],
    ])('refuses a %s token with 400', async (_name, query) => {
      const res = await t.request('GET', `/v1/pbx/${tenant.id}/zadarma${query}`, { admin: false });
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/zd_echo/);
    });
  });

  describe('Signature', () => {
    const samples: Record<string, () => ZadarmaWebhook[]> = {
      NOTIFY_START: () => [sim.answeredCall().webhooks[0]],
      NOTIFY_INTERNAL: () => [sim.answeredCall().webhooks[1]],
      NOTIFY_ANSWER: () => [sim.answeredCall().webhooks[2]],
      NOTIFY_END: () => [sim.answeredCall().webhooks[3]],
      NOTIFY_OUT_START: () => [sim.outboundCall().webhooks[0]],
      NOTIFY_OUT_END: () => [sim.outboundCall().webhooks[1]],
      NOTIFY_RECORD: () => [sim.answeredCall({ recorded: true }).webhooks[4]],
      NOTIFY_IVR: () => [
        sim.webhook({ ...sim.answeredCall().webhooks[0].fields, event: 'NOTIFY_IVR' }),
      ],
    };

    it.each(Object.keys(samples))(
      '%s: accepted when signed with the API secret, 401 and nothing stored otherwise',
      async (event) => {
        const [good] = samples[event]();
        const callId = good.fields.pbx_call_id;
        const forged = forger.webhook(good.fields);

        const wrong = await deliver(good, { signature: forged.signature });
        expect(wrong.status).toBe(401);
        expect(wrong.body.message).toMatch(/Signature does not match/);

        const missing = await deliver(good, { signature: null });
        expect(missing.status).toBe(401);
        expect(missing.body.message).toMatch(/Signature header is missing/);

        // A signed field changed after signing.
        const tampered = await deliver({
          ...good,
          fields: { ...good.fields, call_start: '2026-11-25 13:00:01', call_id_with_rec: '1.2' },
        });
        expect(tampered.status).toBe(401);
        expect(await storedFor(callId)).toBe(0);
        expect(
          api.requests.filter((r) => r.params.call_id === good.fields.call_id_with_rec),
        ).toEqual([]);

        const ok = await deliver(good);
        expect(ok.status).toBe(200);
        expect(ok.headers.get('content-type')).toMatch(/application\/json/);
        expect(ok.body).toEqual({});
        if (event === 'NOTIFY_RECORD') {
          await eventually(
            () => storedFor(callId),
            (n) => n === 1,
          );
          expect(await storedFor(callId)).toBe(1);
        } else {
          expect(await storedFor(callId)).toBe(1);
        }
      },
    );

    it('does not let the operator token stand in for the signature', async () => {
      const [good] = samples.NOTIFY_START();
      const res = await t.request('POST', `/v1/pbx/${tenant.id}/zadarma`, {
        rawBody: encodeForm(good.fields).body,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        admin: true,
      });
      expect(res.status).toBe(401);
      expect(await storedFor(good.fields.pbx_call_id)).toBe(0);
    });

    it('answers an unknown tenant and a tenant without a zadarma source exactly like a bad signature', async () => {
      const [good] = samples.NOTIFY_START();
      const other = await createTenant(t, { name: 'No Zadarma' });
      const unknown = await deliver(good, { tenantId: '00000000-0000-4000-8000-000000000000' });
      const garbage = await deliver(good, { tenantId: 'not-a-tenant' });
      const noSource = await deliver(good, { tenantId: other.id });
      for (const res of [unknown, garbage, noSource]) {
        expect(res.status).toBe(401);
        expect(res.body.message).toBe(
          "Signature does not match the API secret of this tenant's Zadarma PBX source",
        );
      }
      expect(await storedFor(good.fields.pbx_call_id)).toBe(0);
    });

    it('accepts the secret of any of the tenant zadarma sources', async () => {
      const second = new ZadarmaSimulator('second-account-secret');
      const created = await t.request('POST', `/v1/tenants/${tenant.id}/pbx-sources`, {
        body: {
          type: 'zadarma',
          config: { apiUrl: api.url },
          credentials: { key: 'k2', secret: 'second-account-secret' },
        },
      });
      expect(created.status).toBe(201);
      try {
        // The first source's secret is cached; the second must still be found.
        const call = second.answeredCall();
        const res = await deliver(call.webhooks[0]);
        expect(res.status).toBe(200);
        expect(await storedFor(call.pbxCallId)).toBe(1);
      } finally {
        await t.request('DELETE', `/v1/tenants/${tenant.id}/pbx-sources/${created.body.id}`);
      }
    });
  });

  describe('validation', () => {
    it('names the missing required fields with 400 and stores nothing', async () => {
      const fields = {
        event: 'NOTIFY_END',
        pbx_call_id: sim.inboundId(),
        caller_id: '79161234567',
        called_did: '74951234567',
        call_start: moscowWallClock(),
      };
      const res = await deliver(sim.webhook(fields));
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/duration is required/);
      expect(res.body.message).toMatch(/disposition is required/);
      expect(await storedFor(fields.pbx_call_id)).toBe(0);
    });

    it('refuses an unknown event type with 400', async () => {
      const res = await deliver({ event: 'NOTIFY_PARTY', pbx_call_id: 'in_1' }, { signature: 'x' });
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/event must be one of NOTIFY_START/);
    });

    it('accepts and ignores fields it does not know', async () => {
      const call = sim.answeredCall();
      const w = sim.webhook({
        ...call.webhooks[0].fields,
        dst_e164: '+74951234567',
        brand_new_field: 'x',
      });
      const res = await deliver(w);
      expect(res.status).toBe(200);
      expect(await storedFor(call.pbxCallId)).toBe(1);
    });

    it('refuses a body that is not form fields', async () => {
      const res = await t.request('POST', `/v1/pbx/${tenant.id}/zadarma`, {
        rawBody: 'event=NOTIFY_START',
        headers: { 'content-type': 'text/plain', signature: 'x' },
        admin: false,
      });
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/form fields/);
    });
  });

  describe('multipart/form-data', () => {
    it.each(['multipart', 'multipart-bug'] as const)(
      'builds the same call from %s deliveries',
      async (encoding) => {
        const call = sim.answeredCall({ ext: '104' });
        await deliverAll(call, encoding);
        const res = await settledCall(call.pbxCallId, 4);
        expect(res.body).toMatchObject({ status: 'ended', result: 'answered', extension: '104' });
      },
    );

    it('refuses a multipart body whose delimiter is not the declared boundary', async () => {
      const w = sim.answeredCall().webhooks[0];
      const enc = encodeMultipart(w.fields);
      const res = await t.request('POST', `/v1/pbx/${tenant.id}/zadarma`, {
        rawBody: enc.body,
        headers: {
          'content-type': 'multipart/form-data; boundary=somethingElse',
          signature: w.signature,
        },
        admin: false,
      });
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/boundary/);
    });

    it('refuses a multipart body over 64 KiB', async () => {
      const w = sim.answeredCall().webhooks[0];
      const enc = encodeMultipart({ ...w.fields, padding: 'x'.repeat(70 * 1024) });
      const res = await t.request('POST', `/v1/pbx/${tenant.id}/zadarma`, {
        rawBody: enc.body,
        headers: { 'content-type': enc.contentType, signature: w.signature },
        admin: false,
      });
      expect(res.status).toBe(413);
    });

    it('parses text fields, skips files and keeps odd names off the prototype', () => {
      const body = Buffer.from(
        [
          '--b',
          'Content-Disposition: form-data; name="event"',
          '',
          'NOTIFY_START',
          '--b',
          'Content-Disposition: form-data; name="__proto__"',
          '',
          'x',
          '--b',
          'Content-Disposition: form-data; name="f"; filename="a.txt"',
          'Content-Type: text/plain',
          '',
          'file body',
          '--b',
          'Content-Disposition: form-data; name="multi"',
          '',
          'line 1\r\nline 2',
          '--b--',
          '',
        ].join('\r\n'),
      );
      const fields = parseMultipartFields(body, 'multipart/form-data; boundary="b"');
      expect(Object.entries(fields)).toEqual([
        ['event', 'NOTIFY_START'],
        ['__proto__', 'x'],
        ['multi', 'line 1\r\nline 2'],
      ]);
      expect(Object.getPrototypeOf(fields)).toBeNull();
      expect(() => parseMultipartFields(body, 'multipart/form-data')).toThrow(/boundary/);
    });
  });

  describe('calls', () => {
    it('turns an answered, recorded call into one answered call whose recording plays through a fresh API link', async () => {
      const callStart = moscowWallClock(Date.now() - 60_000);
      const call = sim.answeredCall({ recorded: true, callStart });
      const rec = call.webhooks[4].fields.call_id_with_rec;
      await deliverAll(call);
      const res = await settledCall(call.pbxCallId, 5, (b) => b.recordingUrl !== null);
      expect(res.body).toMatchObject({
        callId: call.pbxCallId,
        direction: 'inbound',
        status: 'ended',
        result: 'answered',
        from: '+79161234567',
        to: '+74951234567',
        extension: '101',
        answeredBy: '101',
        ringing: ['101'],
        duration: 95,
        // call_start is the Moscow wall clock: three hours ahead of UTC.
        startedAt: moscowToIso(callStart),
        // A stable reference, stored before the webhook was answered: links expire, calls stay.
        recordingUrl: `${api.url}/v1/pbx/record/request/?call_id=${rec}&pbx_call_id=${call.pbxCallId}`,
      });
      expect(api.requests.filter((r) => r.path === '/v1/pbx/record/request/')).toHaveLength(0);

      // A CRM plays the hub's signed link; right after the call Zadarma may not have the file yet.
      const link = res.body.recordingLink as string;
      expect(link).toMatch(/\/v1\/recordings\//);
      expect(t.app.get(RecordingLinks).verify(new URL(link).pathname.split('/').pop()!)).toEqual({
        tenantId: tenant.id,
        callId: call.pbxCallId,
      });
      const path = new URL(link).pathname;
      api.notReadyTimes.set(rec, 1);
      expect((await t.request('GET', path, { admin: false })).status).toBe(503);
      const audio = await t.request('GET', path, { admin: false });
      expect(audio.status).toBe(200);
      expect(audio.text).toBe(`ID3-zadarma-${rec}.mp3`);
      const fetches = api.requests.filter(
        (r) => r.path === '/v1/pbx/record/request/' && r.params.call_id === rec,
      );
      expect(fetches).toHaveLength(2);
      for (const f of fetches) {
        expect(f.authorized).toBe(true);
        expect(f.params).toEqual({ call_id: rec, lifetime: '5184000', format: 'json' });
      }
    });

    it('turns a ring-all group nobody answers into one missed call that rang everyone', async () => {
      const call = sim.missedRingAll({ exts: ['101', '102', '103'], disposition: 'no answer' });
      await deliverAll(call);
      const res = await settledCall(call.pbxCallId, 5);
      expect(res.body).toMatchObject({
        status: 'ended',
        result: 'missed',
        ringing: ['101', '102', '103'],
        extension: null,
        answeredBy: null,
        duration: 0,
      });
    });

    it('keeps a caller who hangs up while ringing as cancelled', async () => {
      const call = sim.missedRingAll({ exts: ['101', '102'], disposition: 'cancel' });
      await deliverAll(call);
      const res = await settledCall(call.pbxCallId, 4);
      expect(res.body).toMatchObject({
        status: 'ended',
        result: 'cancelled',
        ringing: ['101', '102'],
      });
    });

    it('keeps a call passed from one extension to another as one answered call that rang both', async () => {
      const call = sim.transferredCall({ from: '101', to: '102' });
      await deliverAll(call);
      const res = await settledCall(call.pbxCallId, 6);
      expect(res.body).toMatchObject({
        status: 'ended',
        result: 'answered',
        ringing: ['101', '102'],
        duration: 120,
      });
    });

    it('records an outbound call of an extension', async () => {
      const callStart = moscowWallClock(Date.now() - 30_000);
      const call = sim.outboundCall({
        callStart,
        ext: '102',
        to: '89161234567',
        disposition: 'busy',
        duration: 0,
      });
      await deliverAll(call);
      const res = await settledCall(call.pbxCallId, 2);
      expect(res.body).toMatchObject({
        direction: 'outbound',
        status: 'ended',
        result: 'busy',
        from: '102',
        to: '+79161234567',
        extension: '102',
        startedAt: moscowToIso(callStart),
      });
    });

    it('treats a re-delivered notification as a duplicate', async () => {
      const call = sim.answeredCall();
      await deliverAll(call);
      await settledCall(call.pbxCallId, 4);
      for (const w of call.webhooks) expect((await deliver(w)).status).toBe(200);
      // The multipart spelling of the same notification is the same event too.
      expect((await deliver(call.webhooks[1], { encoding: 'multipart' })).status).toBe(200);
      expect(await storedFor(call.pbxCallId)).toBe(4);
      const res = await settledCall(call.pbxCallId, 4);
      expect(res.body).toMatchObject({ status: 'ended', result: 'answered', ringing: ['101'] });
    });

    it('answers 503 (so Zadarma re-delivers) when events cannot be stored', async () => {
      const call = sim.answeredCall();
      await t.db.query('RENAME TABLE call_events TO call_events_offline');
      let res: TestResponse;
      try {
        res = await deliver(call.webhooks[1]);
      } finally {
        await t.db.query('RENAME TABLE call_events_offline TO call_events');
      }
      expect(res.status).toBe(503);
      expect(await storedFor(call.pbxCallId)).toBe(0);
      expect((await deliver(call.webhooks[1])).status).toBe(200);
      expect(await storedFor(call.pbxCallId)).toBe(1);
    });
  });

  describe('steering the call (NOTIFY_START reply)', () => {
    /** Delivers a NOTIFY_START for this caller and returns the reply and how long it took. */
    async function startCall(
      caller: string,
    ): Promise<{ res: TestResponse; ms: number; callId: string }> {
      const call = sim.answeredCall({ caller });
      const started = performance.now();
      const res = await deliver(call.webhooks[0]);
      return { res, ms: performance.now() - started, callId: call.pbxCallId };
    }

    describe('through a real RetailCRM integration', () => {
      const crm = new RetailcrmSandbox();
      let shop: CreatedTenant;

      beforeAll(async () => {
        await crm.start();
        crm.addUser({ id: 27, firstName: 'Ivan', lastName: 'Petrov', code: '101' });
        crm.addCustomer({
          id: 7,
          firstName: 'Anna',
          lastName: 'Smirnova',
          phones: ['+79161234567'],
          managerId: 27,
        });
        shop = await createTenant(t, { name: 'CRM shop', routingBudgetMs: BUDGET_MS });
        await t.request('POST', `/v1/tenants/${shop.id}/pbx-sources`, {
          body: {
            type: 'zadarma',
            config: { apiUrl: api.url },
            credentials: { key: KEY, secret: SECRET },
          },
        });
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
      });
      afterAll(() => crm.stop());

      it('redirects a known caller to the responsible manager within the budget', async () => {
        const call = sim.answeredCall({ caller: '8 916 123-45-67' });
        const started = performance.now();
        const res = await deliver(call.webhooks[0], { tenantId: shop.id });
        expect(performance.now() - started).toBeLessThan(BUDGET_MS);
        expect(res.status).toBe(200);
        expect(res.body).toEqual({
          redirect: '101',
          return_timeout: 20,
          caller_name: 'Anna Smirnova',
        });
      });

      it('answers {} within the budget when the CRM is slow', async () => {
        crm.hangNext(2, BUDGET_MS * 4);
        const call = sim.answeredCall({ caller: '79990001234' });
        const started = performance.now();
        const res = await deliver(call.webhooks[0], { tenantId: shop.id });
        expect(performance.now() - started).toBeLessThan(BUDGET_MS + 100);
        expect(res.status).toBe(200);
        expect(res.body).toEqual({});
      });
    });

    // The cases below stub the routing service to reach its edge cases (hangs, failures).

    it('steers a known caller to the decided extension with the contact name', async () => {
      const routing = t.app.get(RoutingService, { strict: false });
      const decide = jest.spyOn(routing, 'decide').mockResolvedValueOnce({
        extension: '105',
        reason: 'responsible',
        agent: { extension: '105', name: 'Ivan' },
        contact: { id: '7', name: 'Romashka "LLC"\n / Petrov', integrationId: 'i-1' },
      });
      try {
        const { res, callId } = await startCall('8 916 123-45-67');
        expect(res.status).toBe(200);
        expect(res.body).toEqual({
          redirect: '105',
          return_timeout: 20,
          caller_name: 'Romashka LLC / Petrov',
        });
        expect(decide).toHaveBeenCalledWith(tenant.id, {
          callId,
          from: '8 916 123-45-67',
          to: '74951234567',
        });
      } finally {
        decide.mockRestore();
      }
    });

    it('answers {} within the budget even when routing hangs or fails', async () => {
      const routing = t.app.get(RoutingService, { strict: false });
      const hang = jest.spyOn(routing, 'decide').mockReturnValueOnce(new Promise(() => undefined));
      try {
        const { res, ms, callId } = await startCall('79990000002');
        expect(res.status).toBe(200);
        expect(res.body).toEqual({});
        expect(ms).toBeGreaterThanOrEqual(BUDGET_MS - 50);
        expect(ms).toBeLessThan(BUDGET_MS + 100);
        expect(await storedFor(callId)).toBe(1);
      } finally {
        hang.mockRestore();
      }
      const fail = jest.spyOn(routing, 'decide').mockRejectedValueOnce(new Error('boom'));
      try {
        const { res } = await startCall('79990000003');
        expect(res.status).toBe(200);
        expect(res.body).toEqual({});
      } finally {
        fail.mockRestore();
      }
    });

    it('never redirects to something that is not an extension', async () => {
      const routing = t.app.get(RoutingService, { strict: false });
      const decide = jest.spyOn(routing, 'decide').mockResolvedValueOnce({
        extension: 'sip:agent@example.com',
        reason: 'responsible',
      });
      try {
        expect((await startCall('79990000004')).res.body).toEqual({});
      } finally {
        decide.mockRestore();
      }
    });

    it('answers {} for a caller no CRM knows, within the budget, and stores the start', async () => {
      const { res, ms, callId } = await startCall('79990000001');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({});
      expect(ms).toBeLessThan(BUDGET_MS);
      expect(await storedFor(callId)).toBe(1);
    });

    it('answers {} for a hidden caller', async () => {
      const { res } = await startCall('');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({});
    });

    // Reply latency under a steady stream is measured by `npm run bench` (scenario z).
    it('answers and stores every NOTIFY_START of a steady stream', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 30; i++) {
        const { res, callId } = await startCall(`7999${String(1000000 + i)}`);
        expect(res.status).toBe(200);
        expect(res.body).toEqual({});
        ids.push(callId);
      }
      for (const id of ids) expect(await storedFor(id)).toBe(1);
    });
  });

  describe('click-to-call through the Zadarma originator', () => {
    it('asks the callback endpoint, signed, to ring the extension and then the number', async () => {
      const sources = t.app.get(PbxSourcesService, { strict: false });
      const source = await sources.get(tenant.id, sourceId);
      const originator = t.app.get(ZadarmaOriginator, { strict: false });
      const before = api.requests.length;
      await originator.originate(source, sources.credentials(source), {
        requestId: 'req-1',
        tenantId: tenant.id,
        extension: '101',
        to: '+79161234567',
      });
      const sent = api.requests.slice(before);
      expect(sent).toHaveLength(1);
      expect(sent[0]).toMatchObject({
        method: 'GET',
        path: '/v1/request/callback/',
        params: { format: 'json', from: '101', sip: '101', to: '79161234567' },
        rawQuery: 'format=json&from=101&sip=101&to=79161234567',
        authorized: true,
      });
      expect(sent[0].authorization).toBe(
        api.expectedAuthorization('/v1/request/callback/', sent[0].params),
      );
    });

    it('fails without retry when Zadarma refuses the credentials, and with retry when it is down', async () => {
      const sources = t.app.get(PbxSourcesService, { strict: false });
      const source = await sources.get(tenant.id, sourceId);
      const originator = t.app.get(ZadarmaOriginator, { strict: false });
      const request = {
        requestId: 'req-2',
        tenantId: tenant.id,
        extension: '101',
        to: '+79161234567',
      };
      const refused = await originator
        .originate(source, { key: KEY, secret: 'wrong' }, request)
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(refused).toBeInstanceOf(PbxError);
      expect((refused as PbxError).code).toBe('refused');
      expect((refused as PbxError).message).toMatch(/Not authorized/);
      api.failWith = 502;
      try {
        const down = await originator.originate(source, sources.credentials(source), request).then(
          () => null,
          (e: unknown) => e,
        );
        expect((down as PbxError).code).toBe('unreachable');
      } finally {
        api.failWith = null;
      }
    });
  });
});
