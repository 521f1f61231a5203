import { randomUUID } from 'node:crypto';
import { RetailcrmSandbox } from '../connectors/retailcrm/retailcrm.sandbox';
import { inboundCall } from './support/call-events';
import { Scrape } from './support/prometheus';
import { connectRetailcrm, startWithIvanAndAnna } from './support/retailcrm';
import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  signedHeaders,
  startTestApp,
  TestApp,
  TestResponse,
} from './support/test-app';
import {
  encodeForm,
  encodeMultipart,
  moscowWallClock,
  ZadarmaSimulator,
  ZadarmaWebhook,
} from './support/zadarma-simulator';

const ZADARMA_SECRET = 'zadarma-api-secret-for-metrics';
const CRM_TOKEN = 'vats-crm-token-metrics';
/** Low enough for a burst to pass it, high enough for every other case of the file. */
const TENANT_REQUESTS_PER_S = 20;

const REJECTED = 'hub_events_rejected_total';
const FAILED_BY_TENANT = 'hub_crm_actions_failed_by_tenant_total';
const FAILING = 'hub_crm_actions_failing';

/**
 * The hub's Prometheus metrics through the real HTTP API: failed CRM actions by tenant, every
 * reason a PBX request is refused, and the server-side latency histograms.
 */
describe('metrics at /metrics', () => {
  const sandbox = new RetailcrmSandbox();
  const zadarma = new ZadarmaSimulator(ZADARMA_SECRET);
  const forger = new ZadarmaSimulator('not-the-api-secret');
  let t: TestApp;
  /** Both on the RetailCRM sandbox: `failing` gets the faults, `healthy` never does. */
  let failing: CreatedTenant;
  let healthy: CreatedTenant;
  /** A Zadarma source open to any sender, and one that allows only 10.0.0.0/8. */
  let zd: CreatedTenant;
  let zdFenced: CreatedTenant;
  let vats: CreatedTenant;

  const scrape = async (): Promise<Scrape> => {
    const res = await t.request('GET', '/metrics', { admin: false });
    expect(res.status).toBe(200);
    return new Scrape(res.text);
  };

  const addSource = async (tenant: CreatedTenant, body: Record<string, unknown>) => {
    const res = await t.request('POST', `/v1/tenants/${tenant.id}/pbx-sources`, { body });
    if (res.status !== 201) throw new Error(`source not created: ${res.status} ${res.text}`);
  };

  beforeAll(async () => {
    await startWithIvanAndAnna(sandbox);
    t = await startTestApp({ HUB_TENANT_REQUESTS_PER_S: String(TENANT_REQUESTS_PER_S) });
    const popOnly = { popOnRinging: true, logCalls: false, createLeadFor: 'none' };
    failing = await createTenant(t, { name: 'Failing CRM' });
    healthy = await createTenant(t, { name: 'Healthy CRM' });
    for (const tenant of [failing, healthy]) {
      await connectRetailcrm(t, tenant.id, sandbox, {
        settings: popOnly,
        agents: { '101': '27' },
      });
    }
    zd = await createTenant(t, { name: 'Zadarma' });
    await addSource(zd, {
      type: 'zadarma',
      config: { apiUrl: 'http://127.0.0.1:9' },
      credentials: { key: 'key', secret: ZADARMA_SECRET },
    });
    zdFenced = await createTenant(t, { name: 'Zadarma fenced' });
    await addSource(zdFenced, {
      type: 'zadarma',
      config: { apiUrl: 'http://127.0.0.1:9', allowedSenders: ['10.0.0.0/8'] },
      credentials: { key: 'key', secret: ZADARMA_SECRET },
    });
    vats = await createTenant(t, { name: 'VATS' });
    await addSource(vats, {
      type: 'vats',
      config: { apiUrl: 'http://127.0.0.1:9/crmapi/v1' },
      credentials: { crmToken: CRM_TOKEN, apiKey: 'vats-api-key' },
    });
  }, 90000);

  afterAll(async () => {
    await t?.close();
    await sandbox.stop();
  });

  const popOf = (tenant: CreatedTenant, callId: string) =>
    t.request('GET', `/v1/tenants/${tenant.id}/calls/${callId}`);
  const popStatus = (r: TestResponse): string | undefined =>
    r.body?.integrations?.[0]?.actions?.pop?.status;
  const ringing = (tenant: CreatedTenant, callId: string) =>
    postEvents(t, tenant, { events: inboundCall(callId, '+79161234567').start });

  describe('CRM actions', () => {
    it('counts an action failed for good once, under its tenant and connector only', async () => {
      const labels = (tenant: CreatedTenant) => ({
        tenant: tenant.id,
        connector: 'retailcrm',
        action: 'pop',
      });
      const before = await scrape();
      // The CRM refuses everything (400): the pop is rejected, final at its first attempt.
      sandbox.setOutage(60_000, 400);
      try {
        expect((await ringing(failing, 'fail-1')).status).toBe(202);
        const call = await eventually(
          () => popOf(failing, 'fail-1'),
          (r) => popStatus(r) === 'failed',
          15000,
        );
        expect(popStatus(call)).toBe('failed');
      } finally {
        sandbox.clearFaults();
      }
      // The other tenant's pop goes through meanwhile: one request sent, one latency observed.
      const beforePop = await scrape();
      expect((await ringing(healthy, 'ok-1')).status).toBe(202);
      const done = await eventually(
        () => popOf(healthy, 'ok-1'),
        (r) => popStatus(r) === 'done',
        15000,
      );
      expect(popStatus(done)).toBe('done');
      const afterPop = await scrape();
      const pops = (s: Scrape) => s.value('hub_pop_latency_seconds_count');
      expect(pops(afterPop) - pops(beforePop)).toBe(1);
      const popSeconds =
        afterPop.value('hub_pop_latency_seconds_sum') -
        beforePop.value('hub_pop_latency_seconds_sum');
      expect(popSeconds).toBeGreaterThan(0);
      expect(popSeconds).toBeLessThan(5);

      const after = afterPop;
      const delta = (tenant: CreatedTenant) =>
        after.value(FAILED_BY_TENANT, labels(tenant)) -
        before.value(FAILED_BY_TENANT, labels(tenant));
      expect(delta(failing)).toBe(1);
      expect(delta(healthy)).toBe(0);
      expect(after.sum(FAILED_BY_TENANT) - before.sum(FAILED_BY_TENANT)).toBe(1);
      // The counter without tenants agrees.
      expect(
        after.sum('hub_crm_actions_failed_total', { connector: 'retailcrm', action: 'pop' }) -
          before.sum('hub_crm_actions_failed_total', { connector: 'retailcrm', action: 'pop' }),
      ).toBe(1);
    }, 40000);

    it('shows the actions failing now (retrying) per tenant, and clears when they succeed', async () => {
      const series = (tenant: CreatedTenant) => ({ tenant: tenant.id, connector: 'retailcrm' });
      // 500: temporary, retried with backoff; the pop stays pending with failed attempts.
      sandbox.setOutage(60_000, 500);
      try {
        expect((await ringing(failing, 'retry-1')).status).toBe(202);
        const during = await eventually(
          scrape,
          (s) => s.value(FAILING, series(failing)) === 1,
          20000,
        );
        expect(during.value(FAILING, series(failing))).toBe(1);
        expect(during.has(FAILING, series(healthy))).toBe(false);
        expect(popStatus(await popOf(failing, 'retry-1'))).toBe('pending');
      } finally {
        sandbox.clearFaults();
      }
      await eventually(
        () => popOf(failing, 'retry-1'),
        (r) => popStatus(r) === 'done',
        20000,
      );
      const after = await eventually(scrape, (s) => !s.has(FAILING, series(failing)), 15000);
      expect(after.has(FAILING, series(failing))).toBe(false);
    }, 70000);
  });

  describe('refused PBX requests', () => {
    /** Makes the request and checks that exactly this one series grew, by exactly 1. */
    async function expectRejected(
      labels: { source: string; reason: string; tenant: string },
      status: number,
      send: () => Promise<TestResponse>,
    ): Promise<void> {
      const before = await scrape();
      const res = await send();
      expect({ status: res.status, text: res.text }).toMatchObject({ status });
      const after = await scrape();
      expect(after.value(REJECTED, labels) - before.value(REJECTED, labels)).toBe(1);
      expect(after.sum(REJECTED) - before.sum(REJECTED)).toBe(1);
    }

    const events = (tenant: string, raw: string, headers: Record<string, string>) =>
      t.request('POST', `/v1/pbx/${tenant}/events`, { rawBody: raw, headers, admin: false });
    const event = (id: string) =>
      JSON.stringify({
        id,
        callId: `call-${id}`,
        type: 'call.started',
        direction: 'inbound',
        from: '+79161234567',
        to: '+74957654321',
        at: new Date().toISOString(),
      });
    const deliver = (
      tenantId: string,
      w: ZadarmaWebhook,
      signature: string | null = w.signature,
    ) => {
      const enc = encodeForm(w.fields);
      const headers: Record<string, string> = { 'content-type': enc.contentType };
      if (signature !== null) headers.signature = signature;
      return t.request('POST', `/v1/pbx/${tenantId}/zadarma`, {
        rawBody: enc.body,
        headers,
        admin: false,
      });
    };
    const vatsPost = (tenantId: string, fields: Record<string, string>) =>
      t.request('POST', `/v1/pbx/${tenantId}/vats`, {
        rawBody: new URLSearchParams(fields).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        admin: false,
      });

    describe('generic events', () => {
      it('a signature that does not match', async () => {
        const raw = event('sig-1');
        await expectRejected(
          { source: 'generic', reason: 'bad_signature', tenant: healthy.id },
          401,
          () => events(healthy.id, raw, signedHeaders('whsec_not-the-secret', raw)),
        );
      });

      it('a timestamp more than 300 s off', async () => {
        const raw = event('sig-2');
        const old = Math.floor(Date.now() / 1000) - 1000;
        await expectRejected(
          { source: 'generic', reason: 'stale_signature', tenant: healthy.id },
          401,
          () => events(healthy.id, raw, signedHeaders(healthy.webhookSecret, raw, old)),
        );
      });

      it('no credentials at all', async () => {
        const raw = event('sig-3');
        await expectRejected(
          { source: 'generic', reason: 'unauthenticated', tenant: healthy.id },
          401,
          () => events(healthy.id, raw, { 'content-type': 'application/json' }),
        );
      });

      it('an API key that is not the tenant’s', async () => {
        const raw = event('sig-4');
        await expectRejected(
          { source: 'generic', reason: 'bad_token', tenant: healthy.id },
          401,
          () =>
            events(healthy.id, raw, {
              'content-type': 'application/json',
              'x-api-key': failing.apiKey,
            }),
        );
      });

      it('an unknown tenant, signed or with the admin token, never named in a label', async () => {
        const nobody = randomUUID();
        const raw = event('sig-5');
        await expectRejected(
          { source: 'generic', reason: 'unknown_tenant', tenant: 'unknown' },
          401,
          () => events(nobody, raw, signedHeaders(healthy.webhookSecret, raw)),
        );
        await expectRejected(
          { source: 'generic', reason: 'unknown_tenant', tenant: 'unknown' },
          404,
          () => t.request('POST', `/v1/pbx/${nobody}/events`, { rawBody: raw }),
        );
        const s = await scrape();
        expect(s.samples.some((x) => x.labels.tenant === nobody)).toBe(false);
      });

      it('an invalid event (400)', async () => {
        const raw = JSON.stringify({ id: 'bad-1', callId: 'c', type: 'call.exploded', at: 'x' });
        await expectRejected(
          { source: 'generic', reason: 'invalid', tenant: healthy.id },
          400,
          () => events(healthy.id, raw, signedHeaders(healthy.webhookSecret, raw)),
        );
      });

      it('a body over the 2 MiB limit (413)', async () => {
        const raw = JSON.stringify({ events: [{ id: 'x', pad: 'x'.repeat(2 * 1024 * 1024) }] });
        await expectRejected(
          { source: 'generic', reason: 'too_large', tenant: 'unknown' },
          413,
          () => events(healthy.id, raw, signedHeaders(healthy.webhookSecret, raw)),
        );
      });

      it('the tenant’s request rate (429), each refused request once', async () => {
        const burst = await createTenant(t, { name: 'Burst' });
        const labels = { source: 'generic', reason: 'rate_limited', tenant: burst.id };
        const before = await scrape();
        const answers = await Promise.all(
          Array.from({ length: TENANT_REQUESTS_PER_S * 3 }, (_, i) => {
            const raw = event(`burst-${i}`);
            return events(burst.id, raw, signedHeaders(burst.webhookSecret, raw));
          }),
        );
        const statuses = answers.map((a) => a.status);
        const limited = statuses.filter((s) => s === 429).length;
        expect(limited).toBeGreaterThan(0);
        expect(statuses.filter((s) => s !== 429 && s !== 202)).toEqual([]);
        const after = await scrape();
        expect(after.value(REJECTED, labels) - before.value(REJECTED, labels)).toBe(limited);
        expect(after.sum(REJECTED) - before.sum(REJECTED)).toBe(limited);
      });
    });

    describe('Zadarma', () => {
      it('a signature made with another secret', async () => {
        const w = forger.answeredCall().webhooks[0];
        await expectRejected(
          { source: 'zadarma', reason: 'bad_signature', tenant: zd.id },
          401,
          () => deliver(zd.id, w),
        );
      });

      it('no Signature header', async () => {
        const w = zadarma.answeredCall().webhooks[0];
        await expectRejected(
          { source: 'zadarma', reason: 'unauthenticated', tenant: 'unknown' },
          401,
          () => deliver(zd.id, w, null),
        );
      });

      it('an unknown tenant', async () => {
        const w = zadarma.answeredCall().webhooks[0];
        await expectRejected(
          { source: 'zadarma', reason: 'unknown_tenant', tenant: 'unknown' },
          401,
          () => deliver(randomUUID(), w),
        );
      });

      it('a tenant without a Zadarma source', async () => {
        const w = zadarma.answeredCall().webhooks[0];
        await expectRejected(
          { source: 'zadarma', reason: 'unknown_source', tenant: healthy.id },
          401,
          () => deliver(healthy.id, w),
        );
      });

      it('a sender outside allowedSenders (403)', async () => {
        const w = zadarma.answeredCall().webhooks[0];
        await expectRejected(
          { source: 'zadarma', reason: 'forbidden_sender', tenant: zdFenced.id },
          403,
          () => deliver(zdFenced.id, w),
        );
      });

      it('a replayed notification hours old (400)', async () => {
        const w = zadarma.answeredCall({
          callStart: moscowWallClock(Date.now() - 5 * 3600_000),
        }).webhooks[0];
        await expectRejected({ source: 'zadarma', reason: 'stale', tenant: zd.id }, 400, () =>
          deliver(zd.id, w),
        );
      });

      it('a multipart body over 64 KiB (413)', async () => {
        const w = zadarma.answeredCall().webhooks[0];
        const enc = encodeMultipart({ ...w.fields, padding: 'x'.repeat(70 * 1024) });
        await expectRejected(
          { source: 'zadarma', reason: 'too_large', tenant: 'unknown' },
          413,
          () =>
            t.request('POST', `/v1/pbx/${zd.id}/zadarma`, {
              rawBody: enc.body,
              headers: { 'content-type': enc.contentType, signature: w.signature },
              admin: false,
            }),
        );
      });
    });

    describe('VATS', () => {
      it('a wrong crm_token', async () => {
        await expectRejected({ source: 'vats', reason: 'bad_token', tenant: vats.id }, 401, () =>
          vatsPost(vats.id, {
            cmd: 'rating',
            callid: 'v1',
            rating: '5',
            crm_token: 'not-the-token',
          }),
        );
      });

      it('no crm_token', async () => {
        await expectRejected(
          { source: 'vats', reason: 'unauthenticated', tenant: 'unknown' },
          401,
          () => vatsPost(vats.id, { cmd: 'rating', callid: 'v2', rating: '5' }),
        );
      });

      it('a tenant without a VATS source', async () => {
        await expectRejected(
          { source: 'vats', reason: 'unknown_source', tenant: healthy.id },
          401,
          () =>
            vatsPost(healthy.id, {
              cmd: 'rating',
              callid: 'v3',
              rating: '5',
              crm_token: CRM_TOKEN,
            }),
        );
      });

      it('an unknown command (400)', async () => {
        await expectRejected({ source: 'vats', reason: 'invalid', tenant: vats.id }, 400, () =>
          vatsPost(vats.id, { cmd: 'dial', callid: 'v4', crm_token: CRM_TOKEN }),
        );
      });
    });
  });

  describe('latency histograms', () => {
    it('count every ingest and route request the server answered', async () => {
      const count = (s: Scrape, name: string, labels: Record<string, string> = {}) =>
        s.value(`${name}_count`, labels);
      const before = await scrape();
      for (let i = 0; i < 5; i++) {
        const raw = JSON.stringify({
          id: `h-${i}`,
          callId: `h-call-${i}`,
          type: 'call.started',
          direction: 'inbound',
          from: '+79161234567',
          to: '+74957654321',
          at: new Date().toISOString(),
        });
        const res = await t.request('POST', `/v1/pbx/${healthy.id}/events`, {
          rawBody: raw,
          headers: signedHeaders(healthy.webhookSecret, raw),
        });
        expect(res.status).toBe(202);
      }
      // A refused request is handled too, and timed.
      expect(
        (
          await t.request('POST', `/v1/pbx/${healthy.id}/events`, {
            rawBody: '{}',
            headers: signedHeaders('whsec_wrong', '{}'),
          })
        ).status,
      ).toBe(401);
      for (let i = 0; i < 3; i++) {
        const w = zadarma.answeredCall().webhooks[0];
        const enc = encodeForm(w.fields);
        const res = await t.request('POST', `/v1/pbx/${zd.id}/zadarma`, {
          rawBody: enc.body,
          headers: { 'content-type': enc.contentType, signature: w.signature },
          admin: false,
        });
        expect(res.status).toBe(200);
      }
      for (let i = 0; i < 2; i++) {
        const res = await t.request('POST', `/v1/pbx/${vats.id}/vats`, {
          rawBody: new URLSearchParams({
            cmd: 'rating',
            callid: `vr-${i}`,
            rating: '5',
            crm_token: CRM_TOKEN,
          }).toString(),
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          admin: false,
        });
        expect(res.status).toBe(200);
      }
      for (let i = 0; i < 4; i++) {
        const raw = JSON.stringify({ callId: `route-${i}`, from: '+79161234567' });
        const res = await t.request('POST', `/v1/pbx/${healthy.id}/route`, {
          rawBody: raw,
          headers: signedHeaders(healthy.webhookSecret, raw),
        });
        expect(res.status).toBe(200);
      }
      // The echo check of a Zadarma URL is no ingest.
      await t.request('GET', `/v1/pbx/${zd.id}/zadarma?zd_echo=abc`, { admin: false });

      const after = await scrape();
      const grew = (name: string, labels: Record<string, string> = {}) =>
        count(after, name, labels) - count(before, name, labels);
      expect(grew('hub_ingest_duration_seconds', { source: 'generic' })).toBe(6);
      expect(grew('hub_ingest_duration_seconds', { source: 'zadarma' })).toBe(3);
      expect(grew('hub_ingest_duration_seconds', { source: 'vats' })).toBe(2);
      expect(grew('hub_route_request_duration_seconds')).toBe(4);
      for (const [name, labels] of [
        ['hub_ingest_duration_seconds', { source: 'generic' }],
        ['hub_route_request_duration_seconds', {}],
      ] as const) {
        // Every request falls in the +Inf bucket; the time spent is positive.
        expect(after.value(`${name}_bucket`, { ...labels, le: '+Inf' })).toBe(
          count(after, name, labels),
        );
        expect(after.value(`${name}_sum`, labels)).toBeGreaterThan(
          before.value(`${name}_sum`, labels),
        );
        // Buckets fine enough to read a p99 of 5 ms.
        expect(after.has(`${name}_bucket`, { ...labels, le: '0.005' })).toBe(true);
      }
    }, 30000);
  });
});
