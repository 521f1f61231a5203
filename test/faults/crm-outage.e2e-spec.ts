import { RetailcrmSandbox } from '../../connectors/retailcrm/retailcrm.sandbox';
import { sleep } from '../support/fault-load';
import {
  CreatedTenant,
  createTenant,
  eventually,
  postEvents,
  startTestApp,
  TestApp,
} from '../support/test-app';

const KNOWN = '+79161234567';
const BUDGET_MS = 300;
/**
 * The CRM is unhealthy for about 30 s: 8 s of 500s, 6 s of 429s, then 6 s of requests that hang
 * (each for 11 s). Kept under 90 s: the retry backoff doubles per failed attempt (429s wait
 * their Retry-After without growing it), so an action that failed through a long outage waits
 * up to 2^(failures-1) s, capped at a minute, after it.
 */
const PHASES = { errorsMs: 8000, rateLimitedMs: 6000, hangingMs: 6000 } as const;
/** Longer than the connector's default 10 s request timeout: a hang is a timeout for the hub. */
const HANG_MS = 11000;
const RETRY_AFTER_S = 3;

const at = (n: number, s: number) =>
  new Date(Date.UTC(2026, 10, 25, 14, 0, 0) + n * 60000 + s * 1000).toISOString();

interface PlannedCall {
  callId: string;
  kind: 'answered' | 'missed';
  /** The caller: the known client for answered calls, a unique unknown number for missed ones. */
  phone: string;
}

/** The events of one inbound call, split as a PBX sends them: while ringing, then at hangup. */
function callEvents(call: PlannedCall, n: number): { start: object[]; end: object[] } {
  const { callId } = call;
  const start: object[] = [
    {
      id: `${callId}-s`,
      callId,
      type: 'call.started',
      direction: 'inbound',
      from: call.phone,
      to: '+74957654321',
      at: at(n, 0),
    },
    { id: `${callId}-r`, callId, type: 'call.ringing', extension: '101', at: at(n, 1) },
  ];
  const end: object[] =
    call.kind === 'answered'
      ? [
          { id: `${callId}-a`, callId, type: 'call.answered', extension: '101', at: at(n, 5) },
          {
            id: `${callId}-e`,
            callId,
            type: 'call.ended',
            result: 'answered',
            duration: 40,
            at: at(n, 45),
          },
        ]
      : [{ id: `${callId}-e`, callId, type: 'call.ended', result: 'missed', at: at(n, 20) }];
  return { start, end };
}

/**
 * RetailCRM answers 500, then 429 with Retry-After, then hangs past the request timeout, while
 * answered and missed calls keep ending. Afterwards every call is logged (the sandbox holds each
 * externalId; a re-upload it reports as a duplicate is harmless), every missed unknown caller
 * has exactly one task, and the CRM's rate limits were never exceeded.
 */
describe('faults: RetailCRM outage (500, 429 + Retry-After, hangs) while calls keep ending', () => {
  const sandbox = new RetailcrmSandbox();
  let t: TestApp | undefined;
  let tenant: CreatedTenant;
  let stopTicker = () => {};

  beforeAll(async () => {
    await sandbox.start();
    sandbox.addUser({ id: 27, firstName: 'Ivan', lastName: 'Petrov', code: '101' });
    sandbox.addCustomer({
      id: 7,
      firstName: 'Anna',
      lastName: 'Smirnova',
      phones: ['8 916 123-45-67'],
      managerId: 27,
    });
    t = await startTestApp({
      HUB_PUBLIC_URL: 'http://127.0.0.1:1',
      // Far beyond the test: no action may be given up as failed because of the outage.
      HUB_CRM_MAX_AGE_S: '3600',
    });
    tenant = await createTenant(t, { name: 'CRM outage', routingBudgetMs: BUDGET_MS });
    const created = await t.request('POST', `/v1/tenants/${tenant.id}/integrations`, {
      body: {
        connector: 'retailcrm',
        config: { url: sandbox.url },
        credentials: { apiKey: sandbox.apiKey },
      },
    });
    expect(created.status).toBe(201);
    const agents = await t.request('PUT', `/v1/tenants/${tenant.id}/agents`, {
      body: [{ extension: '101', name: 'Ivan', crmUsers: { [created.body.id]: '27' } }],
    });
    expect(agents.status).toBe(200);
    // Let the module registration finish first, so the outage hits call work only.
    await eventually(
      async () => sandbox.modules.has('telephony-hub'),
      (v) => v,
      20000,
    );
  }, 60000);
  afterAll(async () => {
    stopTicker();
    await t?.close();
    await sandbox.stop();
  }, 60000);

  /**
   * The sandbox's failNext/hangNext apply to the next N requests, whatever their time. To make
   * a phase last a time instead, keep one fault queued ahead of the requests that arrive.
   */
  function keepQueued(inject: () => void): () => void {
    let injected = 1;
    const base = sandbox.requests.length;
    inject();
    const timer = setInterval(() => {
      while (sandbox.requests.length - base >= injected) {
        inject();
        injected++;
      }
    }, 20);
    return () => clearInterval(timer);
  }

  it('logs every call once, doubles no lead and keeps the rate limits', async () => {
    const app = t!;
    const calls: PlannedCall[] = [];
    const posts: Promise<void>[] = [];
    const routeTimes: { phase: string; ms: number; status: number }[] = [];
    let phase = 'normal';
    let generating = true;
    let n = 0;

    // One call every 400 ms: its start, then its end a moment later, in the background.
    const generator = (async () => {
      while (generating) {
        const kind = n % 2 === 0 ? 'answered' : 'missed';
        const call: PlannedCall = {
          callId: `crm-${n}`,
          kind,
          phone: kind === 'answered' ? KNOWN : `+7999555${String(n).padStart(4, '0')}`,
        };
        calls.push(call);
        const events = callEvents(call, n);
        const currentPhase = phase;
        posts.push(
          (async () => {
            const routeStarted = Date.now();
            const route = await app.request('POST', `/v1/pbx/${tenant.id}/route`, {
              body: { callId: call.callId, from: call.phone },
              headers: { 'x-api-key': tenant.apiKey },
            });
            routeTimes.push({
              phase: currentPhase,
              ms: Date.now() - routeStarted,
              status: route.status,
            });
            const s = await postEvents(app, tenant, { events: events.start });
            expect(s.status).toBe(202);
            await sleep(300);
            const e = await postEvents(app, tenant, { events: events.end });
            expect(e.status).toBe(202);
          })(),
        );
        n++;
        await sleep(400);
      }
    })();

    await sleep(3000);
    phase = '500';
    sandbox.setOutage(PHASES.errorsMs, 500);
    await sleep(PHASES.errorsMs);
    phase = '429';
    stopTicker = keepQueued(() => sandbox.failNext(1, { status: 429, retryAfterS: RETRY_AFTER_S }));
    await sleep(PHASES.rateLimitedMs);
    stopTicker();
    sandbox.clearFaults();
    phase = 'hang';
    stopTicker = keepQueued(() => sandbox.hangNext(1, HANG_MS));
    await sleep(PHASES.hangingMs);
    stopTicker();
    // The ticker keeps one fault queued ahead of the requests: the outage is over, so the
    // one still queued must not hang a request of the recovery.
    sandbox.clearFaults();
    phase = 'normal';
    generating = false;
    await generator;
    await Promise.all(posts);

    const missed = calls.filter((c) => c.kind === 'missed');
    const tasksFor = (phone: string) =>
      sandbox.tasks.filter((task) => String(task.phone ?? '').includes(phone.slice(1)));
    const done = () =>
      calls.every((c) => sandbox.uploadedCalls.has(c.callId)) &&
      missed.every((c) => tasksFor(c.phone).length > 0);
    await eventually(
      async () => done(),
      (v) => v,
      50000,
    );

    const notLogged = calls.filter((c) => !sandbox.uploadedCalls.has(c.callId));
    expect(calls.length).toBeGreaterThan(50);
    // The hub's own view first (it explains a failure best): every log and lead done.
    const unfinished: unknown[] = [];
    for (const c of calls) {
      const res = await app.request('GET', `/v1/tenants/${tenant.id}/calls/${c.callId}`);
      const actions = (res.body?.integrations?.[0]?.actions ?? {}) as Record<
        string,
        { status: string; attempts: number; lastError: string | null }
      >;
      const expected = c.kind === 'missed' ? ['log', 'lead'] : ['log'];
      if (expected.some((a) => actions[a]?.status !== 'done'))
        unfinished.push({ callId: c.callId, actions });
    }
    expect(unfinished).toEqual([]);
    // No call missing from the CRM's history.
    expect(notLogged.map((c) => c.callId)).toEqual([]);
    // None uploaded twice: a refused or cut-off request never reached the history, so every
    // call arrived in exactly one handled upload.
    expect(calls.filter((c) => sandbox.uploadArrivals.get(c.callId) !== 1)).toEqual([]);
    // One task per missed unknown caller, none doubled, and none for answered calls.
    for (const c of missed) expect([c.callId, tasksFor(c.phone).length]).toEqual([c.callId, 1]);
    expect(sandbox.tasks).toHaveLength(missed.length);
    // The CRM never had to refuse the hub for going too fast.
    expect(sandbox.rateLimitRejections).toBe(0);
    expect(sandbox.maxPerSecondObserved('default')).toBeLessThanOrEqual(10);
    expect(sandbox.maxPerSecondObserved('telephony')).toBeLessThanOrEqual(40);
    // Routing answered within its budget in every phase, hangs included.
    expect(routeTimes.filter((r) => r.status !== 200)).toEqual([]);
    expect(routeTimes.filter((r) => r.ms > BUDGET_MS + 250)).toEqual([]);
  }, 89000);
});
