import { RetailcrmSandbox } from '../connectors/retailcrm/retailcrm.sandbox';
import { connectRetailcrm, startWithIvanAndAnna } from './support/retailcrm';
import {
  CreatedTenant,
  createTenant,
  eventually,
  startTestApp,
  TestApp,
  TestResponse,
} from './support/test-app';
import { FakeVatsApi, VatsPbx, vatsUser } from './support/vats-simulator';
import { FakeZadarmaApi, moscowToIso, moscowWallClock } from './support/zadarma-simulator';

const VATS_KEY = 'vats-api-key-0001';
const CRM_TOKEN = 'crm-token-0123456789';
const ZD_KEY = 'zd-user-key-0001';
const ZD_SECRET = 'zd-api-secret-0123456789abcdef';
const HOUR = 3600_000;

describe('Backfill: POST …/pbx-sources/:id/backfill, GET …/backfills/:id', () => {
  const sandbox = new RetailcrmSandbox();
  const vats = new FakeVatsApi({
    apiKey: VATS_KEY,
    users: [vatsUser('ivanov', '101', { name: 'Ivan Ivanov' })],
  });
  const zadarma = new FakeZadarmaApi(ZD_KEY, ZD_SECRET);
  let t: TestApp;
  let tenant: CreatedTenant;
  let vatsSource: string;
  let zadarmaSource: string;
  let genericSource: string;
  let pbx: VatsPbx;

  const createSource = async (body: Record<string, unknown>): Promise<string> => {
    const res = await t.request('POST', `/v1/tenants/${tenant.id}/pbx-sources`, { body });
    expect(res.status).toBe(201);
    return res.body.id as string;
  };

  beforeAll(async () => {
    await startWithIvanAndAnna(sandbox);
    await vats.start();
    await zadarma.start();
    t = await startTestApp();
    tenant = await createTenant(t, { name: 'Backfill shop', timezone: 'Europe/Moscow' });
    await connectRetailcrm(t, tenant.id, sandbox, { agents: { '101': '27' } });
    vatsSource = await createSource({
      type: 'vats',
      config: { apiUrl: vats.url },
      credentials: { crmToken: CRM_TOKEN, apiKey: VATS_KEY },
    });
    zadarmaSource = await createSource({
      type: 'zadarma',
      config: { apiUrl: zadarma.url },
      credentials: { key: ZD_KEY, secret: ZD_SECRET },
    });
    genericSource = await createSource({ type: 'generic', config: {} });
    pbx = new VatsPbx({
      crmUrl: `${t.url}/v1/pbx/${tenant.id}/vats`,
      crmToken: CRM_TOKEN,
      api: vats,
    });
  }, 60000);
  afterAll(async () => {
    await t?.close();
    await vats.stop();
    await zadarma.stop();
    await sandbox.stop();
  });

  const backfill = (sourceId: string, body: unknown): Promise<TestResponse> =>
    t.request('POST', `/v1/tenants/${tenant.id}/pbx-sources/${sourceId}/backfill`, { body });
  const finished = async (sourceId: string, from: Date, to: Date) => {
    const started = await backfill(sourceId, { from: from.toISOString(), to: to.toISOString() });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ status: 'queued', sourceId });
    const done = await eventually(
      () => t.request('GET', `/v1/tenants/${tenant.id}/backfills/${started.body.id}`),
      (r) => r.body.status === 'done' || r.body.status === 'failed',
      20000,
    );
    expect(done.body.error).toBeUndefined();
    return done.body as { status: string; calls: Record<string, number> };
  };
  const endedCall = (callId: string) =>
    eventually(
      () => t.request('GET', `/v1/tenants/${tenant.id}/calls/${encodeURIComponent(callId)}`),
      (r) =>
        r.status === 200 &&
        r.body.status === 'ended' &&
        r.body.events.every((e: { processed: boolean }) => e.processed),
      15000,
    );
  const eventCount = async (): Promise<number> => {
    const [row] = await t.db.query('SELECT COUNT(*) AS n FROM call_events WHERE tenant_id = ?', [
      tenant.id,
    ]);
    return Number(row.n);
  };

  it('imports the VATS calls the hub missed, logs them in the CRM, and nothing twice', async () => {
    const start = new Date(Date.now() - 3 * HOUR);
    // Heard live: the hub has it already.
    const live = await pbx.inboundAnswered({
      phone: '79161234567',
      diversion: '74951234567',
      user: 'ivanov',
      ext: '101',
      durationS: 20,
      start: new Date(start.getTime() + 10 * 60_000),
    });
    await endedCall(live.callid);
    // Made while the hub was down: only the PBX knows them.
    const answered = await pbx.inboundAnswered({
      phone: '79161234567',
      diversion: '74951234567',
      user: 'ivanov',
      durationS: 61,
      recorded: true,
      start: new Date(start.getTime() + 20 * 60_000),
      historyOnly: true,
    });
    const missed = await pbx.inboundMissed({
      phone: '79995550011',
      diversion: '74951234567',
      ring: [{ user: 'ivanov', ext: '101' }],
      start: new Date(start.getTime() + 30 * 60_000),
      historyOnly: true,
    });
    // Outside the period: not imported.
    await pbx.inboundMissed({
      phone: '79995550033',
      diversion: '74951234567',
      ring: [{ user: 'ivanov', ext: '101' }],
      start: new Date(start.getTime() - HOUR),
      historyOnly: true,
    });

    const first = await finished(vatsSource, start, new Date(start.getTime() + HOUR));
    expect(first).toMatchObject({ status: 'done', calls: { seen: 3, imported: 2, known: 1 } });

    const call = await endedCall(answered.callid);
    expect(call.body).toMatchObject({
      direction: 'inbound',
      from: '+79161234567',
      result: 'answered',
      answeredBy: '101',
      duration: 61,
      recordingUrl: vats.recordingUrl(answered.callid),
      startedAt: new Date(answered.history.start).toISOString(),
    });
    expect((await endedCall(missed.callid)).body).toMatchObject({ result: 'missed' });
    await eventually(
      async () => sandbox.uploadedCalls.get(answered.callid),
      (logged) => logged !== undefined,
      15000,
    );
    expect(sandbox.uploadedCalls.get(answered.callid)).toMatchObject({
      code: '101',
      result: 'answered',
      duration: 61,
    });
    // No card pops for a call long over.
    expect(sandbox.events.filter((e) => e.callExternalId === answered.callid)).toEqual([]);

    const stored = await eventCount();
    const again = await finished(vatsSource, start, new Date(start.getTime() + HOUR));
    expect(again.calls).toEqual({ seen: 3, imported: 0, known: 3 });
    expect(await eventCount()).toBe(stored);
    expect(sandbox.uploadArrivals.get(answered.callid)).toBe(1);
  });

  it("imports Zadarma's call statistics, read on the account's clock", async () => {
    const at = Date.now() - 2 * HOUR;
    const callstart = moscowWallClock(at);
    zadarma.stats.push(
      {
        call_type: 'in',
        pbx_call_id: 'in_backfill_1',
        call_id: '1715670902.1001',
        sip: '101',
        callstart,
        clid: '79161234567',
        destination: '74951234567',
        disposition: 'answered',
        seconds: 42,
        is_recorded: 'true',
      },
      {
        call_type: 'out',
        pbx_call_id: 'out_backfill_2',
        call_id: '1715670902.1002',
        sip: '101',
        callstart: moscowWallClock(at + 60_000),
        clid: '74951234567',
        destination: '79161234567',
        disposition: 'no answer',
        seconds: 0,
        is_recorded: 'false',
      },
    );
    const result = await finished(zadarmaSource, new Date(at - HOUR), new Date(at + HOUR));
    expect(result.calls).toEqual({ seen: 2, imported: 2, known: 0 });
    const inbound = await endedCall('in_backfill_1');
    expect(inbound.body).toMatchObject({
      direction: 'inbound',
      from: '+79161234567',
      to: '+74951234567',
      result: 'answered',
      answeredBy: '101',
      duration: 42,
      startedAt: moscowToIso(callstart),
    });
    // The recording is fetched from Zadarma's API when played.
    expect(inbound.body.recordingUrl).toContain('/v1/pbx/record/request/');
    const outbound = await endedCall('out_backfill_2');
    expect(outbound.body).toMatchObject({ direction: 'outbound', from: '101', result: 'missed' });
    const statsRequests = zadarma.requests.filter((r) => r.path === '/v1/statistics/pbx/');
    expect(statsRequests.every((r) => r.authorized)).toBe(true);
    expect(statsRequests.map((r) => r.params.call_type).sort()).toEqual(['in', 'out']);
  });

  it('says why an attempt failed and tries again later', async () => {
    const down = await createSource({
      type: 'vats',
      config: { apiUrl: 'http://127.0.0.1:1/crmapi/v1' },
      credentials: { crmToken: 'crm-token-unreachable', apiKey: VATS_KEY },
    });
    const now = Date.now();
    const started = await backfill(down, {
      from: new Date(now - HOUR).toISOString(),
      to: new Date(now).toISOString(),
    });
    expect(started.status).toBe(202);
    const failedOnce = await eventually(
      () => t.request('GET', `/v1/tenants/${tenant.id}/backfills/${started.body.id}`),
      (r) => r.body.error !== undefined,
      15000,
    );
    expect(failedOnce.body).toMatchObject({ status: 'queued' });
    expect(failedOnce.body.error).toContain('VATS API unreachable');
  });

  it('refuses a source without a history, a bad period and unknown ids', async () => {
    const now = Date.now();
    const period = { from: new Date(now - HOUR).toISOString(), to: new Date(now).toISOString() };
    const generic = await backfill(genericSource, period);
    expect(generic.status).toBe(422);
    expect(generic.body.message).toContain('keeps no call history');
    const reversed = await backfill(vatsSource, { from: period.to, to: period.from });
    expect(reversed.status).toBe(400);
    expect(reversed.body.message).toContain('to must be later than from');
    const long = await backfill(vatsSource, {
      from: new Date(now - 40 * 86_400_000).toISOString(),
      to: period.to,
    });
    expect(long.status).toBe(400);
    expect(long.body.message).toContain('at most 31 days');
    const noZone = await backfill(vatsSource, { from: '2026-12-01T00:00:00', to: period.to });
    expect(noZone.status).toBe(400);
    expect(noZone.body.message).toContain('from must carry a time zone');
    const unknown = await t.request(
      'GET',
      `/v1/tenants/${tenant.id}/backfills/00000000-0000-0000-0000-000000000000`,
    );
    expect(unknown.status).toBe(404);
    const other = await createTenant(t, { name: 'Other' });
    const started = await backfill(vatsSource, period);
    const foreign = await t.request('GET', `/v1/tenants/${other.id}/backfills/${started.body.id}`);
    expect(foreign.status).toBe(404);
  });
});
