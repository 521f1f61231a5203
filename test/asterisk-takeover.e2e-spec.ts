import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../src/config/config';
import { LEASE_TICK_MS, LEASE_TTL_MS } from '../src/pbx/asterisk/asterisk-source.service';
import { FakeAmiServer } from './support/fake-ami-server';
import { freePort, HubProcess } from './support/hub-process';
import { eventually, httpRequest, startTestApp, TestApp } from './support/test-app';
import { dropTestResources, testEnv } from './support/test-env';

type Capture = Record<string, string>[];
const capture = (name: string): Capture =>
  JSON.parse(
    readFileSync(join(__dirname, 'fixtures/asterisk-ami', `${name}.json`), 'utf8'),
  ) as Capture;

/** The capture as another call: the same events with other sequence numbers. */
const renumbered = (name: string, offset: number): Capture =>
  capture(name).map((e) => {
    const out: Record<string, string> = { ...e };
    for (const k of ['Uniqueid', 'Linkedid', 'DestUniqueid', 'DestLinkedid']) {
      if (out[k]) out[k] = out[k].replace(/\.(\d+)$/, (_m, seq) => `.${Number(seq) + offset}`);
    }
    return out;
  });
/** Where a phone (not dialplan plumbing) first hangs up: the call was answered before. */
const firstHangup = (events: Capture) =>
  events.findIndex((e) => e.Event === 'Hangup' && !e.Channel.startsWith('Local/'));
const linkedidOf = (events: Capture) => events.find((e) => e.Linkedid)!.Linkedid;

/**
 * The instance holding a PBX's AMI connection dies with kill -9: no release, no goodbye. Another
 * instance takes the connection over when the lease lapses, ends the calls that ended meanwhile
 * and follows the ones still going on to their correct end.
 */
describe('Asterisk: takeover after the holder crashes', () => {
  const env = testEnv({ LOG_LEVEL: 'error' });
  const config = loadConfig(env);
  const ami = new FakeAmiServer({ username: 'crmhub', secret: 's3cret' });
  let crashed: HubProcess;
  let standby: TestApp | null = null;

  afterAll(async () => {
    await crashed?.kill();
    await standby?.close();
    await ami.close();
    await dropTestResources(config);
  }, 60000);

  it('is taken over within the lease, and calls in progress end as they really did', async () => {
    const port = await ami.listen();
    crashed = new HubProcess(env, await freePort());
    await crashed.start();
    const tenant = await httpRequest(crashed.url, 'POST', '/v1/tenants', {
      body: { name: 'Crashing', defaultCountry: 'NL' },
    });
    expect(tenant.status).toBe(201);
    const tenantId = tenant.body.id as string;
    const source = await httpRequest(crashed.url, 'POST', `/v1/tenants/${tenantId}/pbx-sources`, {
      body: {
        type: 'asterisk',
        config: { host: '127.0.0.1', port },
        credentials: { username: 'crmhub', secret: 's3cret' },
      },
    });
    expect(source.status).toBe(201);
    await eventually(
      async () => ami.sessions,
      (n) => n === 1,
      15000,
    );
    standby = await startTestApp({
      DATABASE_URL: config.databaseUrl,
      HUB_REDIS_PREFIX: config.redisPrefix,
    });
    const callOf = (callId: string) =>
      standby!.request('GET', `/v1/tenants/${tenantId}/calls/${encodeURIComponent(callId)}`);

    // Two answered calls; one hangs up while nobody holds the connection, one goes on.
    const goesOn = renumbered('simple_ab_success_a_hangup', 3000);
    const endsUnheard = renumbered('simple_ab_success_b_hangup', 4000);
    for (const events of [goesOn, endsUnheard]) {
      await ami.replay(events.slice(0, firstHangup(events)));
      const answered = await eventually(
        () => callOf(linkedidOf(events)),
        (r) => r.status === 200 && r.body.status === 'answered',
        15000,
      );
      expect(answered.body.status).toBe('answered');
    }
    // What Asterisk lists at the takeover: the call's channels that have not hung up.
    const before = goesOn.slice(0, firstHangup(goesOn));
    const gone = new Set(before.filter((e) => e.Event === 'Hangup').map((e) => e.Uniqueid));
    const alive = before.filter((e) => e.Event === 'Newchannel' && !gone.has(e.Uniqueid));
    ami.channels = alive.map((e) => ({
      channel: e.Channel,
      uniqueid: e.Uniqueid,
      linkedid: e.Linkedid,
      state: 'Up',
    }));

    const logins = ami.loginCount;
    const killedAt = Date.now();
    await crashed.kill();
    await eventually(
      async () => ami.loginCount,
      (n) => n > logins,
      LEASE_TTL_MS + 3 * LEASE_TICK_MS + 5000,
    );
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThan(LEASE_TTL_MS + 3 * LEASE_TICK_MS + 5000);
    await eventually(
      async () => ami.sessions,
      (n) => n === 1,
    );

    const unheard = await eventually(
      () => callOf(linkedidOf(endsUnheard)),
      (r) => r.body.status === 'ended',
      15000,
    );
    expect(unheard.body).toMatchObject({
      result: 'answered',
      lastError: 'ended while the hub was not connected to Asterisk (found at the resync)',
    });

    // The call that went on ends through its own hangups, as the first holder would have ended it.
    await eventually(
      () => callOf(linkedidOf(goesOn)),
      (r) => r.body.status === 'answered',
    );
    await ami.replay(goesOn.slice(firstHangup(goesOn)));
    const ended = await eventually(
      () => callOf(linkedidOf(goesOn)),
      (r) =>
        r.body.status === 'ended' &&
        r.body.events.every((e: { processed: boolean }) => e.processed),
      15000,
    );
    expect(ended.body).toMatchObject({
      direction: 'internal',
      result: 'answered',
      answeredBy: '202',
      lastError: null,
    });
    expect(ended.body.duration).toBeGreaterThan(0);
    const types = (ended.body.events as { type: string }[]).map((e) => e.type);
    expect(types.filter((t) => t === 'call.started')).toHaveLength(1);
    expect(types.filter((t) => t === 'call.ended')).toHaveLength(1);
  }, 90000);
});
