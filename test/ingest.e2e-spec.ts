import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  signedHeaders,
  startTestApp,
  TestApp,
} from './support/test-app';

const T0 = Date.UTC(2026, 10, 25, 10, 0, 0);
const at = (s: number) => new Date(T0 + s * 1000).toISOString();

function event(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: `evt-${Math.random().toString(36).slice(2)}`,
    callId: 'c-42',
    type: 'call.ringing',
    direction: 'inbound',
    from: '84951234567',
    to: '+74957654321',
    extension: '101',
    at: at(0),
    ...overrides,
  };
}

describe('PBX ingest POST /v1/pbx/:tenantId/events', () => {
  let t: TestApp;
  let tenant: CreatedTenant;

  beforeAll(async () => {
    t = await startTestApp();
  });
  beforeEach(async () => {
    tenant = await createTenant(t);
  });
  afterAll(() => t.close());

  const stored = async (tenantId = tenant.id): Promise<number> => {
    const [row] = await t.db.query('SELECT COUNT(*) AS n FROM call_events WHERE tenant_id = ?', [
      tenantId,
    ]);
    return Number(row.n);
  };
  const callOf = (callId: string) => t.request('GET', `/v1/tenants/${tenant.id}/calls/${callId}`);
  const processed = (callId: string, n: number) =>
    eventually(
      () => callOf(callId),
      (r) =>
        r.status === 200 &&
        r.body.events.length === n &&
        r.body.events.every((e: { processed: boolean }) => e.processed),
    );

  it('accepts a signed event, normalizes its numbers and builds the call', async () => {
    const res = await postEvents(t, tenant, event({ from: '8 (495) 123-45-67' }));
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ accepted: 1, duplicates: 0 });
    const call = await processed('c-42', 1);
    expect(call.body).toMatchObject({
      callId: 'c-42',
      direction: 'inbound',
      status: 'ringing',
      from: '+74951234567',
      to: '+74957654321',
      ringing: ['101'],
    });
  });

  it('accepts the tenant API key and the operator token instead of a signature', async () => {
    const byKey = await t.request('POST', `/v1/pbx/${tenant.id}/events`, {
      body: event(),
      headers: { 'x-api-key': tenant.apiKey },
    });
    expect(byKey.status).toBe(202);
    const byAdmin = await t.request('POST', `/v1/pbx/${tenant.id}/events`, { body: event() });
    expect(byAdmin.status).toBe(202);
  });

  it('counts a re-sent id as a duplicate and changes nothing', async () => {
    const e = event({ id: 'same-id' });
    expect((await postEvents(t, tenant, e)).body).toEqual({ accepted: 1, duplicates: 0 });
    const again = await postEvents(t, tenant, { ...e, extension: '999' });
    expect(again.status).toBe(202);
    expect(again.body).toEqual({ accepted: 0, duplicates: 1 });
    const call = await processed('c-42', 1);
    expect(call.body.ringing).toEqual(['101']);
    const batch = await postEvents(t, tenant, {
      events: [e, event({ id: 'fresh' }), event({ id: 'fresh' })],
    });
    expect(batch.body).toEqual({ accepted: 1, duplicates: 2 });
  });

  it('counts duplicates right when concurrent requests share one write', async () => {
    const requests = Array.from({ length: 30 }, (_, i) =>
      postEvents(t, tenant, { events: [event({ id: `cc-${i % 10}` }), event({ id: `cu-${i}` })] }),
    );
    const results = await Promise.all(requests);
    for (const r of results) {
      expect(r.status).toBe(202);
      expect(r.body.accepted + r.body.duplicates).toBe(2);
    }
    const accepted = results.reduce((sum, r) => sum + r.body.accepted, 0);
    expect(accepted).toBe(10 + 30);
    expect(await stored()).toBe(40);
  });

  it('builds one correct call from events that arrive out of order', async () => {
    const events = [
      event({
        id: 'e4',
        type: 'call.ended',
        at: at(70),
        result: 'answered',
        duration: 60,
        extension: undefined,
      }),
      event({ id: 'e2', type: 'call.answered', at: at(10), extension: '102' }),
      event({ id: 'e1', type: 'call.ringing', at: at(1), extension: '101' }),
      event({ id: 'e1b', type: 'call.ringing', at: at(1), extension: '102' }),
    ];
    for (const e of events) expect((await postEvents(t, tenant, e)).status).toBe(202);
    const call = await processed('c-42', 4);
    expect(call.body).toMatchObject({
      status: 'ended',
      result: 'answered',
      duration: 60,
      extension: '102',
      answeredBy: '102',
      ringing: ['101', '102'],
      answeredAt: at(10),
      endedAt: at(70),
    });
    // A late ringing event does not reopen it.
    await postEvents(
      t,
      tenant,
      event({ id: 'e5', type: 'call.ringing', at: at(80), extension: '103' }),
    );
    const after = await processed('c-42', 5);
    expect(after.body).toMatchObject({
      status: 'ended',
      ringing: ['101', '102'],
      extension: '102',
    });
  });

  it('takes a batch of up to 500 events at once', async () => {
    const events = Array.from({ length: 500 }, (_, i) =>
      event({ id: `b-${i}`, callId: `bc-${i % 50}` }),
    );
    const res = await postEvents(t, tenant, { events });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ accepted: 500, duplicates: 0 });
    expect(await stored()).toBe(500);
  });

  describe('refuses bad input with a clear 4xx and stores nothing', () => {
    const expectRejected = async (
      res: { status: number; body: { message: string } },
      status: number,
      mention: RegExp,
    ) => {
      expect(res.status).toBe(status);
      expect(res.body.message).toMatch(mention);
      expect(await stored()).toBe(0);
    };

    it('without any credentials', async () => {
      const res = await t.request('POST', `/v1/pbx/${tenant.id}/events`, {
        body: event(),
        admin: false,
      });
      await expectRejected(res, 401, /X-Hub-Signature|X-Api-Key/);
    });

    it('with a wrong signature', async () => {
      const raw = JSON.stringify(event());
      const headers = signedHeaders('whsec_wrong', raw);
      await expectRejected(
        await t.request('POST', `/v1/pbx/${tenant.id}/events`, { rawBody: raw, headers }),
        401,
        /signature/i,
      );
    });

    it('with a body changed after signing', async () => {
      const raw = JSON.stringify(event());
      const headers = signedHeaders(tenant.webhookSecret, raw);
      const res = await t.request('POST', `/v1/pbx/${tenant.id}/events`, {
        rawBody: raw.replace('101', '102'),
        headers,
      });
      await expectRejected(res, 401, /does not match/);
    });

    it('with a stale signature', async () => {
      const raw = JSON.stringify(event());
      const headers = signedHeaders(tenant.webhookSecret, raw, Math.floor(Date.now() / 1000) - 301);
      await expectRejected(
        await t.request('POST', `/v1/pbx/${tenant.id}/events`, { rawBody: raw, headers }),
        401,
        /300 s/,
      );
    });

    it("with another tenant's key or signature", async () => {
      const other = await createTenant(t, { name: 'Other' });
      const byKey = await t.request('POST', `/v1/pbx/${tenant.id}/events`, {
        body: event(),
        headers: { 'x-api-key': other.apiKey },
      });
      await expectRejected(byKey, 401, /API key/);
      const raw = JSON.stringify(event());
      const bySig = await t.request('POST', `/v1/pbx/${tenant.id}/events`, {
        rawBody: raw,
        headers: signedHeaders(other.webhookSecret, raw),
      });
      await expectRejected(bySig, 401, /signature/);
      expect(await stored(other.id)).toBe(0);
    });

    it('with an unknown field', async () => {
      await expectRejected(await postEvents(t, tenant, event({ colour: 'red' })), 400, /colour/);
    });

    it.each(['id', 'callId', 'type', 'at'])('with %s missing', async (field) => {
      const e = event();
      delete e[field];
      await expectRejected(await postEvents(t, tenant, e), 400, new RegExp(`\\b${field}\\b`));
    });

    it('with a bad phone number', async () => {
      await expectRejected(
        await postEvents(t, tenant, event({ from: '12' })),
        400,
        /from must be a phone number/,
      );
      await expectRejected(
        await postEvents(t, tenant, event({ to: 'call me maybe' })),
        400,
        /\bto must be a phone number/,
      );
    });

    it('with a time without a zone or a bad type', async () => {
      await expectRejected(
        await postEvents(t, tenant, event({ at: '2026-11-25T10:00:00' })),
        400,
        /at must carry a time zone/,
      );
      await expectRejected(
        await postEvents(t, tenant, event({ type: 'call.exploded' })),
        400,
        /type/,
      );
    });

    it('with a call.ended that has no result, or a recording without its URL', async () => {
      await expectRejected(
        await postEvents(t, tenant, event({ type: 'call.ended' })),
        400,
        /result/,
      );
      await expectRejected(
        await postEvents(t, tenant, event({ type: 'call.recording' })),
        400,
        /recordingUrl/,
      );
      await expectRejected(
        await postEvents(
          t,
          tenant,
          event({ type: 'call.recording', recordingUrl: 'file:///etc/passwd' }),
        ),
        400,
        /recordingUrl/,
      );
    });

    it('with malformed JSON', async () => {
      const raw = '{"id": "e1", "callId": ';
      const res = await t.request('POST', `/v1/pbx/${tenant.id}/events`, {
        rawBody: raw,
        headers: { ...signedHeaders(tenant.webhookSecret, raw) },
      });
      await expectRejected(res, 400, /JSON/);
    });

    it('with a batch over 500 events', async () => {
      const events = Array.from({ length: 501 }, (_, i) => event({ id: `o-${i}` }));
      await expectRejected(
        await postEvents(t, tenant, { events }),
        400,
        /events must contain no more than 500/,
      );
    });

    it('with one bad event in a batch, naming it and storing none of the others', async () => {
      const events = [event(), event(), event(), event({ from: 'nope' }), event()];
      await expectRejected(await postEvents(t, tenant, { events }), 400, /events\.3\.from/);
    });

    it('with an empty batch', async () => {
      await expectRejected(await postEvents(t, tenant, { events: [] }), 400, /events/);
    });
  });

  describe('GET /v1/tenants/:id/calls', () => {
    it('pages newest first with a cursor and filters by time and result', async () => {
      const events = Array.from({ length: 7 }, (_, i) => [
        event({ id: `r${i}`, callId: `p-${i}`, at: at(i * 60) }),
        event({
          id: `x${i}`,
          callId: `p-${i}`,
          type: 'call.ended',
          at: at(i * 60 + 30),
          result: i % 2 ? 'missed' : 'answered',
        }),
      ]).flat();
      await postEvents(t, tenant, { events });
      await eventually(
        () => t.request('GET', `/v1/tenants/${tenant.id}/calls?limit=200`),
        (r) =>
          r.body.items?.length === 7 &&
          r.body.items.every((c: { status: string }) => c.status === 'ended'),
      );
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const q: string = cursor ? `&cursor=${cursor}` : '';
        const page = await t.request('GET', `/v1/tenants/${tenant.id}/calls?limit=3${q}`);
        expect(page.status).toBe(200);
        expect(page.body.items.length).toBeLessThanOrEqual(3);
        seen.push(...page.body.items.map((c: { callId: string }) => c.callId));
        cursor = page.body.nextCursor;
      } while (cursor);
      expect(seen).toEqual(['p-6', 'p-5', 'p-4', 'p-3', 'p-2', 'p-1', 'p-0']);

      const missed = await t.request('GET', `/v1/tenants/${tenant.id}/calls?result=missed`);
      expect(missed.body.items.map((c: { callId: string }) => c.callId)).toEqual([
        'p-5',
        'p-3',
        'p-1',
      ]);
      const windowed = await t.request(
        'GET',
        `/v1/tenants/${tenant.id}/calls?since=${at(120)}&until=${at(240)}`,
      );
      expect(windowed.body.items.map((c: { callId: string }) => c.callId)).toEqual(['p-3', 'p-2']);
    });

    it('rejects bad query parameters by name', async () => {
      for (const [q, field] of [
        ['limit=0', 'limit'],
        ['limit=abc', 'limit'],
        ['result=great', 'result'],
        ['since=yesterday', 'since'],
        ['cursor=%21%21', 'cursor'],
        ['color=red', 'color'],
      ]) {
        const res = await t.request('GET', `/v1/tenants/${tenant.id}/calls?${q}`);
        expect(res.status).toBe(400);
        expect(res.body.message).toContain(field);
      }
    });

    it('answers 404 for a call the tenant does not have', async () => {
      const res = await t.request('GET', `/v1/tenants/${tenant.id}/calls/nope`);
      expect(res.status).toBe(404);
    });
  });
});
