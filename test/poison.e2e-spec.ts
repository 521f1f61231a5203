import { CallEventsRepository } from '../src/calls/call-events.repository';
import { CallProcessor, MAX_EVENTS_PER_CALL } from '../src/calls/call-processor.service';
import type { NormalizedEvent } from '../src/calls/call-event';
import { IngestService } from '../src/calls/ingest.service';
import { Metrics } from '../src/observability/metrics.service';
import { CreatedTenant, createTenant, postEvents, startTestApp, TestApp } from './support/test-app';

/**
 * Poison input stays with its sender: an event time no database can hold is refused at the
 * door, an event that slipped in anyway (stored by an older hub, or built by an adapter) fails
 * its own call only, a call that keeps failing is set aside, and the sweeper serves every
 * tenant in turn.
 */
describe('poison input', () => {
  let t: TestApp;
  let a: CreatedTenant;
  let b: CreatedTenant;

  beforeAll(async () => {
    // The sweeper is driven by hand here.
    t = await startTestApp({ HUB_SWEEP_INTERVAL_S: '3600' });
    a = await createTenant(t, { name: 'Poisoner' });
    b = await createTenant(t, { name: 'Bystander' });
  }, 60000);
  afterAll(async () => {
    await t?.close();
  });

  const event = (callId: string, at: string, id = `${callId}-s`): NormalizedEvent => ({
    id,
    callId,
    type: 'call.started',
    direction: 'inbound',
    from: '+79161234567',
    to: '+74957654321',
    at,
  });

  /** Stores events as they are, as an older hub (or a bug) would have, bypassing validation. */
  async function storeRaw(tenantId: string, events: NormalizedEvent[], receivedAgoS = 60) {
    const received = new Date(Date.now() - receivedAgoS * 1000);
    for (let i = 0; i < events.length; i += 500) {
      const chunk = events.slice(i, i + 500);
      await t.db.query(
        `INSERT INTO call_events (tenant_id, event_id, call_id, type, occurred_at, payload, received_at)
         VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
        chunk.flatMap((ev) => [
          tenantId,
          ev.id,
          ev.callId,
          ev.type,
          new Date('2026-11-25T10:00:00Z'),
          JSON.stringify(ev),
          received,
        ]),
      );
    }
  }

  async function callStatus(tenant: CreatedTenant, callId: string): Promise<number> {
    return (await t.request('GET', `/v1/tenants/${tenant.id}/calls/${callId}`)).status;
  }

  describe('event time', () => {
    it.each([
      ['9999-12-31T23:00:00-05:00'],
      ['1999-12-31T23:59:59Z'],
      [new Date(Date.now() + 25 * 3600_000).toISOString()],
    ])('refuses at=%s with 400 naming the field', async (at) => {
      const res = await postEvents(t, a, event('time-bad', at));
      expect(res.status).toBe(400);
      expect(res.body.message).toMatch(/^at must be between 2000-01-01 and 24 h from now/);
    });

    it('takes a time up to 24 h ahead (a PBX clock running fast)', async () => {
      const res = await postEvents(
        t,
        a,
        event('time-ok', new Date(Date.now() + 23 * 3600_000).toISOString()),
      );
      expect(res.status).toBe(202);
    });

    it('names the event in a batch', async () => {
      const ok = event('batch-ok', new Date().toISOString());
      const res = await postEvents(t, a, {
        events: [ok, event('batch-bad', '9999-12-31T23:00:00Z')],
      });
      expect(res.status).toBe(400);
      expect(res.body.message).toContain('events.1.at must be between 2000-01-01');
    });
  });

  describe('events built by a PBX adapter', () => {
    it('refuses a request carrying one that cannot be stored, naming the field', async () => {
      const ingest = t.app.get(IngestService);
      const good = event('adapter-1', new Date().toISOString());
      const bad = {
        ...event('adapter-2', '+010000-01-01T04:00:00.000Z'),
        extension: 'x'.repeat(40),
      };
      await expect(ingest.ingest(a.id, [good, bad], 'zadarma')).rejects.toThrow(
        /events\.1\.at must be between 2000-01-01/,
      );
      expect(await callStatus(a, 'adapter-1')).toBe(404);
    });

    it('drops what cannot be stored from a stream and stores the rest', async () => {
      const ingest = t.app.get(IngestService);
      const good = event('stream-1', new Date().toISOString());
      const bad = {
        ...event('stream-2', new Date().toISOString()),
        extension: 'PJSIP/101 with spaces',
      };
      expect(await ingest.ingest(a.id, [good, bad], 'asterisk', 'drop')).toEqual({
        accepted: 1,
        duplicates: 0,
      });
      const rows = (await t.db.query(
        'SELECT COUNT(*) AS n FROM call_events WHERE tenant_id = ? AND call_id = ?',
        [a.id, 'stream-2'],
      )) as { n: number }[];
      expect(Number(rows[0].n)).toBe(0);
      expect(await callStatus(a, 'stream-1')).not.toBe(500);
    });
  });

  describe('a poison call that slipped in', () => {
    it('fails alone: the other calls of its batch, of another tenant, are processed', async () => {
      await storeRaw(a.id, [event('poison-1', '+010000-01-01T04:00:00.000Z')]);
      await storeRaw(b.id, [event('innocent-1', new Date().toISOString())]);
      const processor = t.app.get(CallProcessor);

      await processor.process([
        { tenantId: a.id, callId: 'poison-1' },
        { tenantId: b.id, callId: 'innocent-1' },
      ]);

      expect(await callStatus(b, 'innocent-1')).toBe(200);
      expect(await callStatus(a, 'poison-1')).toBe(404);
    });

    it('is set aside after repeated failures: counted, with its error, and no longer swept', async () => {
      await storeRaw(a.id, [event('poison-2', '+010000-01-01T04:00:00.000Z')]);
      const processor = t.app.get(CallProcessor);
      const events = t.app.get(CallEventsRepository);
      const metrics = t.app.get(Metrics);
      const failedBefore = (await metrics.callsFailed.get()).values[0]?.value ?? 0;
      const swept = async () =>
        (await events.unprocessedCalls(new Date(), 1000)).some((r) => r.callId === 'poison-2');

      for (let i = 0; i < 4; i++) await processor.process([{ tenantId: a.id, callId: 'poison-2' }]);
      expect(await swept()).toBe(true);
      await processor.process([{ tenantId: a.id, callId: 'poison-2' }]);
      expect(await swept()).toBe(false);

      const rows = (await t.db.query(
        'SELECT fail_count, failed_at, last_error FROM call_events WHERE tenant_id = ? AND call_id = ?',
        [a.id, 'poison-2'],
      )) as { fail_count: number; failed_at: Date | null; last_error: string }[];
      expect(rows[0].fail_count).toBe(5);
      expect(rows[0].failed_at).not.toBeNull();
      expect(rows[0].last_error).toMatch(/^processing failed: /);
      expect((await metrics.callsFailed.get()).values[0]?.value).toBe(failedBefore + 1);
      const scrape = await t.request('GET', '/metrics');
      expect(scrape.text).toMatch(/^hub_calls_failed_total [1-9]/m);
    });

    it(`refuses to fold a call of more than ${MAX_EVENTS_PER_CALL} events`, async () => {
      const now = new Date().toISOString();
      const flood = Array.from({ length: MAX_EVENTS_PER_CALL + 1 }, (_, i) =>
        event('flood-1', now, `flood-1-${i}`),
      );
      await storeRaw(a.id, flood);
      await storeRaw(b.id, [event('innocent-2', now)]);
      await t.app.get(CallProcessor).process([
        { tenantId: a.id, callId: 'flood-1' },
        { tenantId: b.id, callId: 'innocent-2' },
      ]);
      expect(await callStatus(b, 'innocent-2')).toBe(200);
      const rows = (await t.db.query(
        'SELECT MAX(fail_count) AS n, MAX(last_error) AS e FROM call_events WHERE tenant_id = ? AND call_id = ?',
        [a.id, 'flood-1'],
      )) as { n: number; e: string }[];
      expect(Number(rows[0].n)).toBe(1);
      expect(rows[0].e).toContain(`more than ${MAX_EVENTS_PER_CALL} events`);
    });
  });

  it('sweeps every tenant in turn, however big one tenant’s backlog', async () => {
    const c = await createTenant(t, { name: 'Backlogged' });
    const d = await createTenant(t, { name: 'Quiet' });
    const now = new Date().toISOString();
    // The backlogged tenant's calls are older than the quiet tenant's one.
    await storeRaw(
      c.id,
      Array.from({ length: 30 }, (_, i) => event(`backlog-${i}`, now)),
      120,
    );
    await storeRaw(d.id, [event('quiet-1', now)], 30);
    const [{ n }] = (await t.db.query(
      `SELECT COUNT(DISTINCT tenant_id) AS n FROM call_events
       WHERE processed_at IS NULL AND failed_at IS NULL`,
    )) as { n: number }[];
    // As many calls as tenants with a backlog: one each, the quiet tenant's included.
    const due = await t.app.get(CallEventsRepository).unprocessedCalls(new Date(), Number(n));
    expect(due.map((r) => r.tenantId)).toContain(d.id);
    expect(due.filter((r) => r.tenantId === c.id)).toHaveLength(1);
  });
});
