import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  startTestApp,
  TestApp,
} from './support/test-app';

const T = Date.parse('2026-11-20T09:00:00Z'); // 12:00 in Moscow
const LINE1 = '+74951110000';
const LINE2 = '+74952220000';

interface Spec {
  id: string;
  direction: 'inbound' | 'outbound' | 'internal';
  from: string;
  to: string;
  startS: number;
  rang?: string[];
  answeredBy?: string;
  waitS?: number;
  result: string;
  duration: number;
  extension?: string;
}

/** Seven calls whose statistics are worked out by hand below. */
const CALLS: Spec[] = [
  {
    id: 's1',
    direction: 'inbound',
    from: '+79161110001',
    to: LINE1,
    startS: 0,
    rang: ['101'],
    answeredBy: '101',
    waitS: 10,
    result: 'answered',
    duration: 60,
  },
  {
    id: 's2',
    direction: 'inbound',
    from: '+79161110002',
    to: LINE1,
    startS: 600,
    rang: ['101', '102'],
    result: 'missed',
    duration: 0,
  },
  {
    id: 's3',
    direction: 'inbound',
    from: '+79161110003',
    to: LINE2,
    startS: 3600,
    rang: ['102'],
    answeredBy: '102',
    waitS: 20,
    result: 'answered',
    duration: 120,
  },
  {
    id: 's4',
    direction: 'outbound',
    from: '101',
    to: '+79161110002',
    startS: 7200,
    extension: '101',
    result: 'answered',
    duration: 30,
  },
  {
    id: 's5',
    direction: 'internal',
    from: '101',
    to: '102',
    startS: 7300,
    extension: '101',
    answeredBy: '102',
    waitS: 5,
    result: 'answered',
    duration: 40,
  },
  {
    id: 's6',
    direction: 'inbound',
    from: '+79161110004',
    to: LINE2,
    startS: 10800,
    rang: ['101'],
    result: 'busy',
    duration: 0,
  },
  {
    id: 's7',
    direction: 'outbound',
    from: '102',
    to: '+79161110005',
    startS: 14400,
    extension: '102',
    result: 'missed',
    duration: 0,
  },
];

function eventsOf(c: Spec) {
  const at = (s: number) => new Date(T + (c.startS + s) * 1000).toISOString();
  const base = { callId: c.id, direction: c.direction, from: c.from, to: c.to };
  const out: Record<string, unknown>[] = [
    {
      ...base,
      id: `${c.id}-s`,
      type: 'call.started',
      at: at(0),
      ...(c.extension ? { extension: c.extension } : {}),
    },
  ];
  for (const ext of c.rang ?? [])
    out.push({ ...base, id: `${c.id}-r${ext}`, type: 'call.ringing', extension: ext, at: at(1) });
  if (c.answeredBy)
    out.push({
      ...base,
      id: `${c.id}-a`,
      type: 'call.answered',
      extension: c.answeredBy,
      at: at(c.waitS ?? 0),
    });
  out.push({
    ...base,
    id: `${c.id}-e`,
    type: 'call.ended',
    result: c.result,
    duration: c.duration,
    at: at((c.waitS ?? 0) + c.duration + 2),
    ...(c.extension || c.answeredBy ? { extension: c.answeredBy ?? c.extension } : {}),
  });
  return out;
}

describe('GET /v1/tenants/:id/stats against hand-computed figures', () => {
  let t: TestApp;
  let tenant: CreatedTenant;
  const from = encodeURIComponent('2026-11-20T00:00:00+03:00');
  const to = encodeURIComponent('2026-11-21T00:00:00+03:00');
  const stats = (groupBy: string) =>
    t.request('GET', `/v1/tenants/${tenant.id}/stats?from=${from}&to=${to}&groupBy=${groupBy}`);

  beforeAll(async () => {
    t = await startTestApp();
    tenant = await createTenant(t, { name: 'Stats', timezone: 'Europe/Moscow' });
    await t.request('PUT', `/v1/tenants/${tenant.id}/agents`, {
      body: [
        { extension: '101', name: 'Ivan', crmUsers: {} },
        { extension: '102', name: 'Olga', crmUsers: {} },
      ],
    });
    await postEvents(t, tenant, { events: CALLS.flatMap(eventsOf) });
    await eventually(
      async () => {
        const res = await t.request('GET', `/v1/tenants/${tenant.id}/calls?limit=20`);
        return (res.body.items as { status: string }[]).filter((c) => c.status === 'ended').length;
      },
      (n) => n === CALLS.length,
      15000,
    );
  }, 60000);
  afterAll(async () => {
    await t?.close();
  });

  // inbound s1 s2 s3 s6; outbound s4 s7; s5 is internal and left out.
  const TOTALS = {
    inbound: 4,
    outbound: 2,
    answered: 2,
    missed: 2,
    answerRate: 0.5,
    avgWaitS: 15, // (10 + 20) / 2
    avgTalkS: 70, // (60 + 120 + 30) / 3, both directions
    talkS: 210,
    calledBack: 1, // s2's caller was called back by s4 within 24 h; s6's never
  };

  it('gives totals that count each call once', async () => {
    for (const groupBy of ['agent', 'line', 'day', 'hour']) {
      const res = await stats(groupBy);
      expect(res.status).toBe(200);
      expect({ groupBy, totals: res.body.totals }).toEqual({ groupBy, totals: TOTALS });
    }
  });

  it('counts by agent: answered for who answered or made it, missed for every agent it rang', async () => {
    const res = await stats('agent');
    expect(res.body.rows).toEqual([
      {
        key: '101',
        name: 'Ivan',
        inbound: 3, // s1 answered, s2 and s6 rang him
        outbound: 1, // s4
        answered: 1,
        missed: 2,
        answerRate: 0.333,
        avgWaitS: 10,
        avgTalkS: 45, // s1 60, s4 30
        talkS: 90,
        calledBack: 1, // s2
      },
      {
        key: '102',
        name: 'Olga',
        inbound: 2, // s2 rang her, s3 answered
        outbound: 1, // s7
        answered: 1,
        missed: 1,
        answerRate: 0.5,
        avgWaitS: 20,
        avgTalkS: 120,
        talkS: 120,
        calledBack: 1,
      },
    ]);
  });

  it('counts by line (the number dialled) and by local hour and day', async () => {
    const lines = (await stats('line')).body.rows as { key: string }[];
    expect(lines.find((r) => r.key === LINE1)).toMatchObject({
      inbound: 2,
      answered: 1,
      missed: 1,
      avgWaitS: 10,
    });
    expect(lines.find((r) => r.key === LINE2)).toMatchObject({
      inbound: 2,
      answered: 1,
      missed: 1,
      avgTalkS: 120,
    });
    const hours = (await stats('hour')).body.rows as {
      key: string;
      inbound: number;
      outbound: number;
    }[];
    expect(hours.map((h) => [h.key, h.inbound, h.outbound])).toEqual([
      ['2026-11-20T12', 2, 0],
      ['2026-11-20T13', 1, 0],
      ['2026-11-20T14', 0, 1],
      ['2026-11-20T15', 1, 0],
      ['2026-11-20T16', 0, 1],
    ]);
    const days = (await stats('day')).body.rows;
    expect(days).toEqual([{ key: '2026-11-20', ...TOTALS }]);
  });

  it('refuses a reversed period and names bad fields', async () => {
    const reversed = await t.request('GET', `/v1/tenants/${tenant.id}/stats?from=${to}&to=${from}`);
    expect(reversed.status).toBe(400);
    expect(reversed.body.message).toContain('to must be later than from');
    const bad = await t.request(
      'GET',
      `/v1/tenants/${tenant.id}/stats?from=${from}&to=${to}&groupBy=week`,
    );
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('groupBy');
  });
});
