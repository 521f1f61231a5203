import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { RedisService } from '../src/common/redis.service';
import { AsteriskSourceService } from '../src/pbx/asterisk/asterisk-source.service';
import { AsteriskOriginator } from '../src/pbx/asterisk/asterisk.originator';
import { PbxSource } from '../src/pbx/pbx-source.entity';
import { FakeAmiServer } from './support/fake-ami-server';
import { CreatedTenant, createTenant, eventually, startTestApp, TestApp } from './support/test-app';
import { freePort } from './support/hub-process';
import { dropTestResources } from './support/test-env';

type Capture = Record<string, string>[];

const FIXTURES = join(__dirname, 'fixtures/asterisk-ami');
const capture = (name: string): Capture =>
  JSON.parse(readFileSync(join(FIXTURES, `${name}.json`), 'utf8')) as Capture;
const linkedidOf = (events: Capture): string => events.find((e) => e.Linkedid)!.Linkedid;

/** What the fixture README says each capture must end as (numbers from the captures). */
const OUTCOMES: Record<string, { direction: string; result: string; answeredBy: string | null }> = {
  simple_ab_success_a_hangup: { direction: 'internal', result: 'answered', answeredBy: '202' },
  simple_ab_success_b_hangup: { direction: 'internal', result: 'answered', answeredBy: '202' },
  simple_ab_a_cancel: { direction: 'internal', result: 'cancelled', answeredBy: null },
  simple_ab_reject: { direction: 'internal', result: 'busy', answeredBy: null },
  simple_ab_callgroup: { direction: 'internal', result: 'answered', answeredBy: '150010002' },
  simple_ab_callgroup_no_answer: { direction: 'internal', result: 'missed', answeredBy: null },
  simple_a_created_no_answer: { direction: 'inbound', result: 'failed', answeredBy: null },
  queue_queue_simple: { direction: 'inbound', result: 'answered', answeredBy: '150010002' },
  queue_queue_a_cancel: { direction: 'inbound', result: 'missed', answeredBy: null },
  'originate_ctd-account-world': { direction: 'outbound', result: 'answered', answeredBy: '201' },
  'originate_ctd-account-account': { direction: 'internal', result: 'answered', answeredBy: '202' },
};

describe('Asterisk AMI source end to end', () => {
  let t: TestApp;
  let second: TestApp | null = null;
  const open = new Set<TestApp>();
  let ami: FakeAmiServer;
  let tenant: CreatedTenant;
  let sourceId: string;

  const callOf = (app: TestApp, callId: string) =>
    app.request('GET', `/v1/tenants/${tenant.id}/calls/${encodeURIComponent(callId)}`);
  const endedCall = (app: TestApp, callId: string) =>
    eventually(
      () => callOf(app, callId),
      (r) =>
        r.status === 200 &&
        r.body.status === 'ended' &&
        r.body.events.every((e: { processed: boolean }) => e.processed),
      15000,
    );
  const sourceStatus = async (app: TestApp): Promise<string> => {
    const res = await app.request('GET', `/v1/tenants/${tenant.id}/pbx-sources`);
    return (res.body as { id: string; status: string }[]).find((s) => s.id === sourceId)!.status;
  };

  beforeAll(async () => {
    ami = new FakeAmiServer({ username: 'crmhub', secret: 's3cret' });
    const port = await ami.listen();
    t = await startTestApp();
    open.add(t);
    tenant = await createTenant(t, { name: 'Asterisk Co', defaultCountry: 'NL' });
    const res = await t.request('POST', `/v1/tenants/${tenant.id}/pbx-sources`, {
      body: {
        type: 'asterisk',
        config: { host: '127.0.0.1', port },
        credentials: { username: 'crmhub', secret: 's3cret' },
      },
    });
    expect(res.status).toBe(201);
    sourceId = res.body.id;
    await eventually(
      async () => ami.sessions,
      (n) => n === 1,
      10000,
    );
  });

  afterAll(async () => {
    for (const app of open) await app.app.close();
    await ami.close();
    await dropTestResources(t.config);
  });

  it('logs in with the source credentials and marks the source connected', async () => {
    expect(ami.sessions).toBe(1);
    const login = ami.actionsNamed('Login')[0];
    expect(login.get('Username')).toBe('crmhub');
    expect(login.get('Events')).toBe('on');
    expect(
      await eventually(
        () => sourceStatus(t),
        (s) => s === 'connected',
      ),
    ).toBe('connected');
  });

  it('says why a source whose AMI cannot be reached is not connected', async () => {
    const port = await freePort();
    const res = await t.request('POST', `/v1/tenants/${tenant.id}/pbx-sources`, {
      body: {
        type: 'asterisk',
        config: { host: '127.0.0.1', port },
        credentials: { username: 'crmhub', secret: 's3cret' },
      },
    });
    expect(res.status).toBe(201);
    try {
      const source = await eventually(
        async () =>
          (await t.request('GET', `/v1/tenants/${tenant.id}/pbx-sources/${res.body.id}`)).body as {
            status: string;
            statusMessage: string | null;
          },
        (s) => s.statusMessage !== null,
        10000,
      );
      expect(source).toMatchObject({
        status: 'connecting',
        statusMessage: 'AMI socket error: connection refused',
      });
      // The tenant reads why, never the socket's own text (which names addresses and ports).
      expect(source.statusMessage).not.toContain(String(port));
    } finally {
      await t.request('DELETE', `/v1/tenants/${tenant.id}/pbx-sources/${res.body.id}`);
    }
  });

  it('replays every capture over TCP into one correct call each', async () => {
    for (const name of Object.keys(OUTCOMES)) await ami.replay(capture(name));
    for (const [name, expected] of Object.entries(OUTCOMES)) {
      const callId = linkedidOf(capture(name));
      const res = await endedCall(t, callId);
      expect({ name, status: res.status }).toEqual({ name, status: 200 });
      expect({
        name,
        direction: res.body.direction,
        result: res.body.result,
        answeredBy: res.body.answeredBy,
      }).toEqual({ name, ...expected });
    }
    const calls = await t.request('GET', `/v1/tenants/${tenant.id}/calls?limit=100`);
    expect(calls.body.items).toHaveLength(Object.keys(OUTCOMES).length);
    const noAnswer = await callOf(t, linkedidOf(capture('simple_a_created_no_answer')));
    expect(noAnswer.body.ringing).toEqual([]);
  });

  it("gives a call answered on an agent's mobile to that agent; an unconfirmed one is missed", async () => {
    const agents = await t.request('PUT', `/v1/tenants/${tenant.id}/agents`, {
      body: [
        { extension: '101', name: 'Anna', mobile: '+31 26 001 0001', crmUsers: {} },
        { extension: '102', name: 'Bert', mobile: '+31150010001', crmUsers: {} },
      ],
    });
    expect(agents.status).toBe(200);
    expect(agents.body[0]).toMatchObject({ extension: '101', mobile: '+31260010001' });

    for (const name of ['mobile_acceptance_simple', 'mobile_acceptance_reject']) {
      await ami.replay(capture(name));
    }
    // Forwarded to Anna's mobile, which answered and confirmed the call.
    const accepted = await endedCall(t, linkedidOf(capture('mobile_acceptance_simple')));
    expect(accepted.body).toMatchObject({
      direction: 'inbound',
      result: 'answered',
      answeredBy: '101',
      extension: '101',
      ringing: ['101'],
    });
    // Forwarded to Bert's mobile, which picked up but never confirmed: missed, still rang Bert.
    const unconfirmed = await endedCall(t, linkedidOf(capture('mobile_acceptance_reject')));
    expect(unconfirmed.body).toMatchObject({
      result: 'missed',
      answeredBy: null,
      ringing: ['102'],
    });

    // A mobile that is nobody's stays the number that answered.
    await t.request('PUT', `/v1/tenants/${tenant.id}/agents`, { body: [] });
    await ami.replay(capture('mobile_simple_mobile'));
    const stranger = await endedCall(t, linkedidOf(capture('mobile_simple_mobile')));
    expect(stranger.body).toMatchObject({ result: 'answered', answeredBy: '+31260010001' });
  });

  it('refuses an agent map whose mobile is no number or belongs to two agents, naming the field', async () => {
    const bad = await t.request('PUT', `/v1/tenants/${tenant.id}/agents`, {
      body: [{ extension: '101', mobile: 'call me', crmUsers: {} }],
    });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toContain('0.mobile must be a phone number');
    const twice = await t.request('PUT', `/v1/tenants/${tenant.id}/agents`, {
      body: [
        { extension: '101', mobile: '+31260010001', crmUsers: {} },
        { extension: '102', mobile: '0260010001', crmUsers: {} },
      ],
    });
    expect(twice.status).toBe(400);
    expect(twice.body.message).toContain('1.mobile +31260010001 is also agent 0');
  });

  it('reconnects after Asterisk drops the socket and still receives later events', async () => {
    const logins = ami.loginCount;
    ami.dropClients();
    await eventually(
      async () => ami.loginCount,
      (n) => n > logins,
      10000,
    );
    expect(ami.loginCount).toBeGreaterThan(logins);
    await eventually(
      async () => ami.sessions,
      (n) => n === 1,
    );
    // A call that happens after the reconnect, with fresh ids.
    const events = capture('simple_ab_reject').map((e) => ({
      ...e,
      ...(e.Uniqueid ? { Uniqueid: `r-${e.Uniqueid}` } : {}),
      ...(e.Linkedid ? { Linkedid: `r-${e.Linkedid}` } : {}),
      ...(e.DestUniqueid ? { DestUniqueid: `r-${e.DestUniqueid}` } : {}),
      ...(e.DestLinkedid ? { DestLinkedid: `r-${e.DestLinkedid}` } : {}),
    }));
    await ami.replay(events);
    const res = await endedCall(t, linkedidOf(events));
    expect(res.body).toMatchObject({ result: 'busy', direction: 'internal' });
  });

  it('ends, after a reconnect, the calls whose channels are gone, and keeps the live ones', async () => {
    /** The capture as another call: the same events with other sequence numbers. */
    const renumbered = (offset: number) =>
      capture('simple_ab_success_a_hangup').map((e) => {
        const out: Record<string, string> = { ...e };
        for (const k of ['Uniqueid', 'Linkedid', 'DestUniqueid', 'DestLinkedid']) {
          if (out[k]) out[k] = out[k].replace(/\.(\d+)$/, (_m, seq) => `.${Number(seq) + offset}`);
        }
        return out;
      });
    const untilHangup = (events: Capture) =>
      events.slice(
        0,
        events.findIndex((e) => e.Event === 'Hangup'),
      );
    const live = renumbered(1000);
    const lost = renumbered(2000);
    await ami.replay(untilHangup(live));
    await ami.replay(untilHangup(lost));
    for (const events of [live, lost]) {
      await eventually(
        () => callOf(t, linkedidOf(events)),
        (r) => r.status === 200 && r.body.status === 'answered',
        10000,
      );
    }
    // Asterisk restarts the AMI session; meanwhile the lost call hung up, the live one did not.
    ami.channels = [
      {
        channel: 'PJSIP/201-00000001',
        uniqueid: linkedidOf(live),
        linkedid: linkedidOf(live),
        state: 'Up',
      },
    ];
    ami.dropClients();
    const ended = await eventually(
      () => callOf(t, linkedidOf(lost)),
      (r) => r.body.status === 'ended' && r.body.lastError !== null,
      15000,
    );
    expect(ended.body).toMatchObject({
      result: 'answered',
      lastError: 'ended while the hub was not connected to Asterisk (found at the resync)',
    });
    expect(ami.actionsNamed('CoreShowChannels').length).toBeGreaterThan(0);
    const still = await callOf(t, linkedidOf(live));
    expect(still.body.status).toBe('answered');
    // Its end comes as usual.
    await ami.replay(live.slice(untilHangup(live).length));
    const done = await endedCall(t, linkedidOf(live));
    expect(done.body).toMatchObject({ result: 'answered', lastError: null });
    ami.channels = [];
  });

  it('places click-to-call with an Originate action through the holder', async () => {
    const service = t.app.get(AsteriskSourceService);
    expect(service.holds(sourceId)).toBe(true);
    const source = await t.db.getRepository(PbxSource).findOneByOrFail({ id: sourceId });
    await t.app.get(AsteriskOriginator).originate(source, null, {
      requestId: 'req-1',
      tenantId: tenant.id,
      extension: '201',
      to: '+31260010001',
    });
    const action = ami.actionsNamed('Originate').at(-1)!;
    expect(action.toObject()).toMatchObject({
      Channel: 'Local/201@from-internal',
      Context: 'from-internal',
      Exten: '+31260010001',
      Priority: '1',
      Async: 'true',
      ChannelId: 'req-1',
      Variable: 'HUB_REQUEST_ID=req-1',
    });
    expect(action.get('CallerID')).toContain('+31260010001');
  });

  it('keeps its AMI connection when Redis loses the lease, and takes the lease again', async () => {
    const service = t.app.get(AsteriskSourceService);
    const redis = t.app.get(RedisService).client;
    const key = service.leaseKey(sourceId);
    const holder = await redis.get(key);
    expect(holder).not.toBeNull();
    const logins = ami.loginCount;
    // As after a Redis restart without its data: the lease is simply gone.
    await redis.del(key);
    const back = await eventually(
      () => redis.get(key),
      (v) => v !== null,
      5000,
    );
    expect(back).toBe(holder);
    expect(ami.loginCount).toBe(logins);
    expect(service.holds(sourceId)).toBe(true);
  });

  it('holds the connection on one instance; the other takes over when it stops, without duplicates', async () => {
    second = await startTestApp({
      DATABASE_URL: t.config.databaseUrl,
      HUB_REDIS_PREFIX: t.config.redisPrefix,
    });
    open.add(second);
    // Two lease ticks and a scan: the second instance must stay on standby.
    await new Promise((r) => setTimeout(r, 4500));
    expect(ami.sessions).toBe(1);
    expect(second.app.get(AsteriskSourceService).holds(sourceId)).toBe(false);

    // Click-to-call from the standby instance reaches Asterisk through the holder.
    const before = ami.actionsNamed('Originate').length;
    const source = await second.db.getRepository(PbxSource).findOneByOrFail({ id: sourceId });
    await second.app.get(AsteriskOriginator).originate(source, null, {
      requestId: 'req-2',
      tenantId: tenant.id,
      extension: '202',
      to: '+31260010002',
    });
    expect(ami.actionsNamed('Originate')).toHaveLength(before + 1);
    expect(ami.actionsNamed('Originate').at(-1)!.get('Channel')).toBe('Local/202@from-internal');

    const logins = ami.loginCount;
    const stoppedAt = Date.now();
    await t.app.close();
    open.delete(t);
    await eventually(
      async () => ami.loginCount,
      (n) => n > logins,
      10000,
    );
    expect(Date.now() - stoppedAt).toBeLessThan(10000);
    expect(second.app.get(AsteriskSourceService).holds(sourceId)).toBe(true);
    await eventually(
      async () => ami.sessions,
      (n) => n === 1,
    );

    // Asterisk re-sends a call the first holder already stored, then a new one.
    const [{ n: storedBefore }] = await second.db.query(
      'SELECT COUNT(*) AS n FROM call_events WHERE tenant_id = ?',
      [tenant.id],
    );
    await ami.replay(capture('simple_ab_success_a_hangup'));
    const fresh = capture('simple_ab_success_b_hangup').map((e) => ({
      ...e,
      ...(e.Uniqueid ? { Uniqueid: `x-${e.Uniqueid}` } : {}),
      ...(e.Linkedid ? { Linkedid: `x-${e.Linkedid}` } : {}),
      ...(e.DestUniqueid ? { DestUniqueid: `x-${e.DestUniqueid}` } : {}),
      ...(e.DestLinkedid ? { DestLinkedid: `x-${e.DestLinkedid}` } : {}),
    }));
    await ami.replay(fresh);
    const res = await endedCall(second, linkedidOf(fresh));
    expect(res.body).toMatchObject({ result: 'answered', answeredBy: '202' });

    const [counts] = await second.db.query(
      `SELECT COUNT(*) AS n, COUNT(DISTINCT event_id) AS ids, MAX(process_count) AS maxProcessed
         FROM call_events WHERE tenant_id = ?`,
      [tenant.id],
    );
    expect(Number(counts.n)).toBe(Number(counts.ids));
    expect(Number(counts.maxProcessed)).toBe(1);
    // Only the new call's five events were added; the re-sent call was all duplicates.
    expect(Number(counts.n) - Number(storedBefore)).toBe(res.body.events.length);
    expect(await sourceStatus(second)).toBe('connected');
  });
});
