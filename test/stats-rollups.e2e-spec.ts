import { StatsRollups } from '../src/integrations/stats/stats-rollups.service';
import { StatsRepository } from '../src/integrations/stats/stats.repository';
import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  startTestApp,
  TestApp,
} from './support/test-app';

const DAY = 86_400_000;
/** Midnight UTC nine days ago: the calls below fill six days that ended long enough ago to be summed. */
const D0 = Math.floor(Date.now() / DAY) * DAY - 9 * DAY;
const LINES = ['+74951110000', '+74952220000'];
const AGENTS = ['101', '102', '103'];

/** A repeatable pseudo-random sequence, so every run has the same calls. */
function lcg(seed: number) {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

interface Call {
  id: string;
  direction: 'inbound' | 'outbound' | 'internal';
  client: string;
  line: string;
  at: number;
  rang: string[];
  by?: string;
  result: string;
  waitS: number;
  duration: number;
}

/** Calls of every shape over days 0-5, with missed calls called back across midnight. */
function calls(): Call[] {
  const rnd = lcg(7);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)];
  const out: Call[] = [];
  for (let i = 0; i < 90; i++) {
    const at = D0 + Math.floor(rnd() * 6 * DAY);
    const r = rnd();
    const direction = r < 0.6 ? 'inbound' : r < 0.9 ? 'outbound' : 'internal';
    const client = `+7916200${String(Math.floor(rnd() * 25)).padStart(4, '0')}`;
    const result = pick(['answered', 'answered', 'answered', 'missed', 'busy', 'cancelled']);
    const rang = direction === 'inbound' ? AGENTS.filter(() => rnd() < 0.6) : [];
    const by =
      result === 'answered' ? (direction === 'inbound' ? pick(AGENTS) : pick(AGENTS)) : undefined;
    out.push({
      id: `r${i}`,
      direction,
      client,
      line: pick(LINES),
      at,
      rang: rang.length ? rang : direction === 'inbound' ? ['101'] : [],
      by: direction === 'outbound' ? pick(AGENTS) : by,
      result,
      waitS: Math.floor(rnd() * 30),
      duration: result === 'answered' ? 5 + Math.floor(rnd() * 300) : 0,
    });
  }
  // A missed call at 23:50 on day 1, called back at 00:20 on day 2.
  out.push(
    {
      id: 'm1',
      direction: 'inbound',
      client: '+79163330001',
      line: LINES[0],
      at: D0 + DAY + 23 * 3600_000 + 50 * 60_000,
      rang: ['102'],
      result: 'missed',
      waitS: 0,
      duration: 0,
    },
    {
      id: 'cb1',
      direction: 'outbound',
      client: '+79163330001',
      line: LINES[0],
      at: D0 + 2 * DAY + 20 * 60_000,
      rang: [],
      by: '102',
      result: 'answered',
      waitS: 0,
      duration: 45,
    },
  );
  return out;
}

function eventsOf(c: Call) {
  const iso = (s: number) => new Date(c.at + s * 1000).toISOString();
  const [from, to] =
    c.direction === 'inbound'
      ? [c.client, c.line]
      : c.direction === 'outbound'
        ? [c.line, c.client]
        : ['101', '102'];
  const base = { callId: c.id, direction: c.direction, from, to };
  const ext = c.direction === 'inbound' ? {} : { extension: c.by ?? '101' };
  const out: Record<string, unknown>[] = [
    { ...base, id: `${c.id}-s`, type: 'call.started', at: iso(0), ...ext },
  ];
  for (const e of c.rang)
    out.push({ ...base, id: `${c.id}-r${e}`, type: 'call.ringing', extension: e, at: iso(1) });
  if (c.result === 'answered' && c.direction === 'inbound') {
    out.push({
      ...base,
      id: `${c.id}-a`,
      type: 'call.answered',
      extension: c.by,
      at: iso(c.waitS + 1),
    });
  }
  out.push({
    ...base,
    id: `${c.id}-e`,
    type: 'call.ended',
    result: c.result,
    duration: c.duration,
    at: iso(c.waitS + c.duration + 2),
    ...(c.by ? { extension: c.by } : {}),
  });
  return out;
}

describe('statistics from daily sums', () => {
  let t: TestApp;
  let tenant: CreatedTenant;
  let rollups: StatsRollups;
  let repo: StatsRepository;
  const CALLS = calls();
  const iso = (ms: number) => encodeURIComponent(new Date(ms).toISOString());
  /** Periods with ragged edges, whole days, and one inside a single day. */
  const PERIODS: [number, number][] = [
    [D0 + 10 * 3600_000 + 17 * 60_000, D0 + 5 * DAY + 13 * 3600_000 + 44 * 60_000],
    [D0, D0 + 6 * DAY],
    [D0 + DAY - 3 * 3600_000, D0 + 3 * DAY + 3 * 3600_000],
    [D0 + 2 * DAY + 3600_000, D0 + 2 * DAY + 9 * 3600_000],
  ];
  const GROUPS = ['agent', 'line', 'day', 'hour'];
  const all = async () => {
    const out: Record<string, unknown> = {};
    for (const [a, b] of PERIODS) {
      for (const g of GROUPS) {
        const res = await t.request(
          'GET',
          `/v1/tenants/${tenant.id}/stats?from=${iso(a)}&to=${iso(b)}&groupBy=${g}`,
        );
        expect(res.status).toBe(200);
        out[`${a}-${b}-${g}`] = res.body;
      }
    }
    return out;
  };
  let fromCalls: Record<string, unknown>;
  /** Every event applied: no write to a call is still on its way (it would mark its day). */
  const settled = () =>
    eventually(
      async () => {
        const [row] = await t.db.query(
          'SELECT COUNT(*) AS n FROM call_events WHERE tenant_id = ? AND processed_at IS NULL',
          [tenant.id],
        );
        return Number(row.n);
      },
      (n) => n === 0,
      20000,
    );

  beforeAll(async () => {
    t = await startTestApp();
    rollups = t.app.get(StatsRollups);
    repo = t.app.get(StatsRepository);
    tenant = await createTenant(t, { name: 'Rollups', timezone: 'Asia/Kolkata' });
    await t.request('PUT', `/v1/tenants/${tenant.id}/agents`, {
      body: AGENTS.map((extension) => ({ extension, name: `Agent ${extension}`, crmUsers: {} })),
    });
    await postEvents(t, tenant, { events: CALLS.flatMap(eventsOf) });
    await eventually(
      async () => {
        const [row] = await t.db.query(
          "SELECT COUNT(*) AS n FROM calls WHERE tenant_id = ? AND status = 'ended'",
          [tenant.id],
        );
        return Number(row.n);
      },
      (n) => n === CALLS.length,
      20000,
    );
    await settled();
    // Nothing is summed yet: every figure below is read from the calls.
    expect((await repo.state(tenant.id)).builtUntil).toBeNull();
    fromCalls = await all();
  }, 60000);
  afterAll(async () => {
    await t?.close();
  });

  it('sums every day that ended two days ago and gives the same figures as the calls', async () => {
    const done = await rollups.refresh();
    expect(done?.built).toBeGreaterThanOrEqual(6);
    const state = await repo.state(tenant.id);
    expect(state.builtUntil).toBe(await repo.horizon());
    expect(state.dirty.size).toBe(0);
    const [{ n }] = await t.db.query(
      'SELECT COUNT(*) AS n FROM call_stats_rollups WHERE tenant_id = ?',
      [tenant.id],
    );
    expect(Number(n)).toBeGreaterThan(50);
    expect(await all()).toEqual(fromCalls);
    // The sums are what is read: change one and the whole-day figures follow.
    await t.db.query(
      "UPDATE call_stats_rollups SET inbound = inbound + 1000 WHERE tenant_id = ? AND kind = 'slot' AND day = ? LIMIT 1",
      [tenant.id, new Date(D0 + 3 * DAY).toISOString().slice(0, 10)],
    );
    const res = await t.request(
      'GET',
      `/v1/tenants/${tenant.id}/stats?from=${iso(D0)}&to=${iso(D0 + 6 * DAY)}&groupBy=day`,
    );
    const before = fromCalls[`${D0}-${D0 + 6 * DAY}-day`] as { totals: { inbound: number } };
    expect(res.body.totals.inbound).toBe(before.totals.inbound + 1000);
    await t.db.query(
      "UPDATE call_stats_rollups SET inbound = inbound - 1000 WHERE tenant_id = ? AND kind = 'slot' AND inbound >= 1000",
      [tenant.id],
    );
  });

  it('reads a day from the calls as soon as a call of it changes, and sums it again', async () => {
    // A call back imported late (as a backfill does): day 3's missed call from +79163330002 at 10:00,
    // called back on day 3 at 15:00.
    const late: Call[] = [
      {
        id: 'm2',
        direction: 'inbound',
        client: '+79163330002',
        line: LINES[1],
        at: D0 + 3 * DAY + 10 * 3600_000,
        rang: ['103'],
        result: 'missed',
        waitS: 0,
        duration: 0,
      },
      {
        id: 'cb2',
        direction: 'outbound',
        client: '+79163330002',
        line: LINES[1],
        at: D0 + 3 * DAY + 15 * 3600_000,
        rang: [],
        by: '103',
        result: 'answered',
        waitS: 0,
        duration: 60,
      },
    ];
    await postEvents(t, tenant, { events: late.flatMap(eventsOf) });
    const url = `/v1/tenants/${tenant.id}/stats?from=${iso(D0)}&to=${iso(D0 + 6 * DAY)}&groupBy=agent`;
    const before = fromCalls[`${D0}-${D0 + 6 * DAY}-agent`] as {
      totals: Record<string, number>;
      rows: ({ key: string } & Record<string, number>)[];
    };
    const expected = {
      inbound: before.totals.inbound + 1,
      outbound: before.totals.outbound + 1,
      missed: before.totals.missed + 1,
      calledBack: before.totals.calledBack + 1,
      talkS: before.totals.talkS + 60,
    };
    const agent103 = before.rows.find((r) => r.key === '103')!;
    // Both late calls processed: the rows and the totals are separate reads, so a call that
    // arrives between them would show in one and not yet in the other.
    await eventually(
      async () => {
        const [row] = await t.db.query(
          "SELECT COUNT(*) AS n FROM calls WHERE tenant_id = ? AND call_id IN ('m2', 'cb2') AND status = 'ended'",
          [tenant.id],
        );
        return Number(row.n);
      },
      (n) => n === 2,
      15000,
    );
    await settled();
    const res = await t.request('GET', url);
    expect(res.body.totals).toMatchObject(expected);
    const dirty = (await repo.state(tenant.id)).dirty;
    expect([...dirty.keys()]).toContain(new Date(D0 + 3 * DAY).toISOString().slice(0, 10));
    const row103 = res.body.rows.find((r: { key: string }) => r.key === '103');
    expect(row103).toMatchObject({
      inbound: agent103.inbound + 1,
      outbound: agent103.outbound + 1,
      missed: agent103.missed + 1,
      calledBack: agent103.calledBack + 1,
    });

    const done = await rollups.refresh();
    expect(done?.rebuilt).toBeGreaterThanOrEqual(1);
    expect((await repo.state(tenant.id)).dirty.size).toBe(0);
    expect((await t.request('GET', url)).body).toEqual(res.body);
  });

  it('keeps a mark written while its day was being summed', async () => {
    const day = new Date(D0 + 4 * DAY).toISOString().slice(0, 10);
    const seen = (await repo.state(tenant.id)).dirty;
    expect(seen.has(day)).toBe(false);
    // The day is marked after the state was read and before the rebuild commits.
    await t.db.query(
      'UPDATE calls SET updated_at = CURRENT_TIMESTAMP(3) WHERE tenant_id = ? AND started_at >= ? AND started_at < ? LIMIT 1',
      [tenant.id, `${day} 00:00:00`, `${day} 23:59:59`],
    );
    const marked = (await repo.state(tenant.id)).dirty.get(day);
    expect(marked).toBeGreaterThanOrEqual(1);
    await repo.rebuild(tenant.id, [day], seen, null);
    expect((await repo.state(tenant.id)).dirty.get(day)).toBe(marked);
    await repo.rebuild(tenant.id, [day], (await repo.state(tenant.id)).dirty, null);
    expect((await repo.state(tenant.id)).dirty.has(day)).toBe(false);
  });
});
