/**
 * npm run demo: the hub end to end on this machine, with nothing but MariaDB and Redis.
 *
 * Starts a RetailCRM sandbox (two managers and a third agent, two customers), a fake PBX HTTP
 * side (recordings, click-to-call) and the hub in-process on a throwaway database, then plays
 * scripted calls as a generic PBX would send them and prints what the hub decided and what the
 * CRM received: routing, the card pop, hangup, the call log with its recording, a task for a
 * missed unknown caller, a ring-all group, an outbound call, click-to-call from the CRM, a
 * Zadarma call steered on NOTIFY_START, an amoCRM shop, a Bitrix24 shop (installed as a
 * local application), a call forwarded to a manager's mobile after hours and a call from a
 * virtual PBX (VATS). Everything it creates is removed at exit.
 *
 * Env: TEST_MYSQL_URL (mysql://root@127.0.0.1:3306), TEST_REDIS_URL (redis://127.0.0.1:6379),
 * the same variables the tests read.
 */
import { createServer, connect, Server, Socket } from 'node:net';
import { createConnection } from 'mysql2/promise';
import Redis from 'ioredis';
import { AmocrmSandbox } from '../connectors/amocrm/amocrm.sandbox';
import { Bitrix24Sandbox } from '../connectors/bitrix24/bitrix24.sandbox';
import { RetailcrmSandbox } from '../connectors/retailcrm/retailcrm.sandbox';
import { checkHubSignature } from '../src/tenants/hub-signature';
import { FakePbxHttp } from '../test/support/fake-pbx-http';
import {
  answeredCall,
  HubEvent,
  localIso,
  missedCall,
  outboundCall,
  playScript,
  recordedCall,
  ringAllCall,
  scriptDurationMs,
  ScriptStep,
} from '../test/support/generic-simulator';
import {
  CreatedTenant,
  createTenant,
  httpRequest,
  postEvents,
  startTestApp,
  TestApp,
} from '../test/support/test-app';
import { FakeVatsApi, VatsPbx, vatsUser } from '../test/support/vats-simulator';
import { encodeForm, FakeZadarmaApi, ZadarmaSimulator } from '../test/support/zadarma-simulator';

const MYSQL_URL = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/** The demo gives up before a CI job or a newcomer would think it hangs. */
const DEMO_BUDGET_MS = 55_000;
/** One wait for the hub or the CRM; everything here normally takes well under a second. */
const WAIT_MS = 10_000;
/** Scripted calls play this many times faster than real time (a 60 s call takes 0.6 s). */
const SPEED = 100;
const LINE = '+74957654321';
const ZADARMA_KEY = 'demo-zadarma-key';
const ZADARMA_SECRET = 'demo-zadarma-secret-0123456789';
const VATS_API_KEY = 'demo-vats-api-key';
const VATS_CRM_TOKEN = 'demo-vats-crm-token-0123';
/** Ivan's mobile, where the PBX forwards his calls after hours. */
const IVAN_MOBILE = '+79031112233';

const USERS = [
  { id: 27, firstName: 'Ivan', lastName: 'Petrov', code: '101' },
  { id: 31, firstName: 'Olga', lastName: 'Sidorova', code: '102' },
  { id: 35, firstName: 'Petr', lastName: 'Volkov', code: '103' },
];
/** Anna's manager is Ivan (101), Boris's is Olga (102); phones stored as people type them. */
const CUSTOMERS = [
  { id: 7, firstName: 'Anna', lastName: 'Smirnova', phones: ['8 916 123-45-67'], managerId: 27 },
  { id: 8, firstName: 'Boris', lastName: 'Kuznetsov', phones: ['+7 903 765-43-21'], managerId: 31 },
];

class DemoError extends Error {}

/** What the PBX, the CRM and the hub said, one readable line each. */
const say = (line = '') => console.log(line);
const step = (who: string, what: string) => say(`   ${who.padEnd(13)} ${what}`);
const title = (n: number, text: string) => say(`\n${n}. ${text}`);

let current = 'starting';
const userName = (id: unknown) => {
  const u = USERS.find((x) => x.id === Number(id));
  return u ? `${u.firstName} ${u.lastName} (${u.code})` : `user ${String(id)}`;
};
const shorten = (url: string, keep = 48) => (url.length > keep ? `${url.slice(0, keep)}…` : url);

/** Polls until the probe gives a value; a step the hub never completes fails, naming itself. */
async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new DemoError(`timed out after ${WAIT_MS} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Stops the demo if MariaDB or Redis is down, with what to do, before anything starts. */
async function checkServers(): Promise<void> {
  try {
    const conn = await createConnection({ uri: MYSQL_URL, connectTimeout: 3000 });
    await conn.query('SELECT 1');
    await conn.end();
  } catch (err) {
    throw new DemoError(
      `MariaDB/MySQL is not reachable at ${MYSQL_URL} (${(err as Error).message}).\n` +
        '  Start MariaDB 10.11 or MySQL 8 (user root, no password), or set TEST_MYSQL_URL.',
    );
  }
  const redis = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // Reported below with the socket's own reason (connect() itself only says "closed").
  let lastError = '';
  redis.on('error', (err: Error) => (lastError = err.message));
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw new DemoError(
      `Redis is not reachable at ${REDIS_URL} (${lastError || (err as Error).message}).\n` +
        '  Start Redis (redis-server), or set TEST_REDIS_URL.',
    );
  } finally {
    redis.disconnect();
  }
}

/**
 * The hub's public address (HUB_PUBLIC_URL: recording links, RetailCRM's makeCallUrl) must be
 * fixed before the hub boots, but startTestApp picks its port only when it listens. A pass-through
 * on a port known in advance stands in for the reverse proxy a real deployment has.
 */
class PublicAddress {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  target = 0;
  url = '';

  constructor() {
    this.server = createServer((client) => {
      if (!this.target) return client.destroy();
      const upstream = connect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => undefined).on('close', () => {
          this.sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

interface RouteAnswer {
  extension: string | null;
  reason: string;
  agent?: { name?: string | null };
  contact?: { name?: string };
}

interface Actions {
  [action: string]: { status: string; lastError: string | null };
}

class Demo {
  readonly sandbox = new RetailcrmSandbox();
  readonly pbx = new FakePbxHttp();
  readonly zadarma = new FakeZadarmaApi(ZADARMA_KEY, ZADARMA_SECRET);
  readonly publicAddress = new PublicAddress();
  readonly amo = new AmocrmSandbox();
  readonly b24 = new Bitrix24Sandbox();
  readonly vats = new FakeVatsApi({
    apiKey: VATS_API_KEY,
    users: USERS.map((u) =>
      vatsUser(u.firstName.toLowerCase(), u.code, { name: `${u.firstName} ${u.lastName}` }),
    ),
  });
  hub?: TestApp;
  tenant!: CreatedTenant;
  integrationId = '';

  get t(): TestApp {
    if (!this.hub) throw new DemoError('the hub is not started');
    return this.hub;
  }

  async setup(): Promise<void> {
    current = 'starting the RetailCRM sandbox, the fake PBX and the hub';
    await this.sandbox.start();
    for (const u of USERS) this.sandbox.addUser(u);
    for (const c of CUSTOMERS) this.sandbox.addCustomer(c);
    await this.pbx.start();
    await this.zadarma.start();
    const publicUrl = await this.publicAddress.start();
    // The sandbox, the fake PBX and Zadarma's fake API listen on 127.0.0.1, which tenant-supplied
    // addresses may reach only because the outbound policy is told so.
    this.hub = await startTestApp({
      LOG_LEVEL: 'warn',
      HUB_PUBLIC_URL: publicUrl,
      HUB_OUTBOUND_ALLOW: '127.0.0.1',
    });
    this.publicAddress.target = Number(new URL(this.hub.url).port);
    const db = new URL(this.hub.config.databaseUrl).pathname.slice(1);

    say('Telephony ↔ CRM hub demo');
    step('hub', `${publicUrl} (database ${db}, dropped at exit)`);
    step('RetailCRM', `${this.sandbox.url} (a local sandbox of its API)`);
    step('PBX', `${this.pbx.url} (serves recordings, takes click-to-call)`);
    for (const u of USERS) step('', `CRM user ${userName(u.id)}`);
    for (const c of CUSTOMERS) {
      const who = `${c.firstName} ${c.lastName} ${c.phones[0]}`;
      step('', `customer ${who}, manager ${userName(c.managerId)}`);
    }

    title(1, 'Setup through the API');
    current = 'creating the tenant, the integration, the agent map and the PBX source';
    this.tenant = await createTenant(this.t, { name: 'Romashka', defaultCountry: 'RU' });
    step('tenant', `${this.tenant.id} "Romashka" (RU numbers)`);
    const integration = await this.t.request('POST', `/v1/tenants/${this.tenant.id}/integrations`, {
      body: {
        connector: 'retailcrm',
        config: { url: this.sandbox.url, timezone: 'Europe/Moscow' },
        credentials: { apiKey: this.sandbox.apiKey },
      },
    });
    if (integration.status !== 201)
      throw new DemoError(`integration refused: ${integration.status} ${integration.text}`);
    this.integrationId = String(integration.body.id);
    step('integration', `retailcrm ${this.integrationId}: tasks for missed callers`);
    const agents = await this.t.request('PUT', `/v1/tenants/${this.tenant.id}/agents`, {
      body: USERS.map((u) => ({
        extension: u.code,
        name: `${u.firstName} ${u.lastName}`,
        crmUsers: { [this.integrationId]: String(u.id) },
      })),
    });
    if (agents.status !== 200) throw new DemoError(`agent map refused: ${agents.text}`);
    step('agents', USERS.map((u) => `${u.code} → CRM user ${u.id}`).join(', '));
    const source = await this.t.request('POST', `/v1/tenants/${this.tenant.id}/pbx-sources`, {
      body: { type: 'generic', config: { originateUrl: `${this.pbx.url}/originate` } },
    });
    if (source.status !== 201) throw new DemoError(`PBX source refused: ${source.text}`);
    step('PBX source', `generic, originateUrl ${this.pbx.url}/originate`);
    const telephony = await this.telephonyModule();
    step('CRM module', `telephony module registered, makeCallUrl ${telephony.makeCallUrl}`);
  }

  /** The module the connector registered in RetailCRM once it knew the agent map. */
  async telephonyModule(): Promise<{ makeCallUrl: string; clientId: string }> {
    current = 'waiting for the RetailCRM telephony module';
    return waitFor('the telephony module with three agent codes', () => {
      const module = this.sandbox.modules.get('telephony-hub') as
        | {
            clientId: string;
            integrations?: { telephony?: { makeCallUrl?: string; additionalCodes?: unknown[] } };
          }
        | undefined;
      const telephony = module?.integrations?.telephony;
      if (!module || !telephony?.makeCallUrl || telephony.additionalCodes?.length !== USERS.length)
        return undefined;
      return { makeCallUrl: telephony.makeCallUrl, clientId: module.clientId };
    });
  }

  async route(callId: string, from: string): Promise<RouteAnswer> {
    const started = Date.now();
    const res = await this.t.request('POST', `/v1/pbx/${this.tenant.id}/route`, {
      body: { callId, from, to: LINE },
      headers: { 'x-api-key': this.tenant.apiKey },
    });
    if (res.status !== 200) throw new DemoError(`routing failed: ${res.status} ${res.text}`);
    const d = res.body as RouteAnswer;
    const why =
      d.reason === 'responsible'
        ? `; ${d.contact?.name ?? 'the client'}'s manager ${d.agent?.name ?? ''}`.trimEnd()
        : d.reason === 'unknown_caller'
          ? '; no CRM knows the number, the PBX plays its usual menu'
          : '';
    const target = d.extension ? `extension ${d.extension}` : 'no extension';
    step('hub route', `→ ${target} (reason ${d.reason}${why}) in ${Date.now() - started} ms`);
    return d;
  }

  /**
   * Plays a call as the PBX, showing each step and what the CRM got: the card pop before the
   * call goes on, the hangup right after it. The call is dated so that it ends now: the hub
   * measures waits (a log waiting for its recording) from the events' own times.
   */
  async play(script: (startAt: Date) => ScriptStep[]): Promise<void> {
    const steps = script(new Date(Date.now() - scriptDurationMs(script(new Date()))));
    const callId = steps[0].events[0].callId;
    const inbound = steps[0].events[0].direction === 'inbound';
    const ringing = new Set<string>();
    let popShown = false;
    let ended = false;
    const catchUp = async () => {
      if (inbound && ringing.size && !popShown) {
        await this.showPop(callId, [...ringing]);
        popShown = true;
      }
      if (inbound && ended) {
        await this.showHangup(callId);
        ended = false;
      }
    };
    await playScript(
      async (events: HubEvent[]) => {
        const res = await postEvents(this.t, this.tenant, { events });
        if (res.status !== 202) throw new DemoError(`events refused: ${res.status} ${res.text}`);
        for (const e of events) {
          if (e.type === 'call.ringing' && e.extension) ringing.add(e.extension);
          if (e.type === 'call.ended') ended = true;
        }
      },
      steps,
      {
        speed: SPEED,
        beforeStep: async (s) => {
          // A card never pops for a call that already ended, so the demo lets the pop land first.
          if (s.events.some((e) => e.type !== 'call.ringing')) await catchUp();
          step('PBX', s.label);
        },
      },
    );
    await catchUp();
  }

  async showPop(callId: string, ringing: string[]): Promise<void> {
    current = `waiting for the card pop of ${callId}`;
    const pops = await waitFor(`RetailCRM to receive the pop of ${callId}`, () => {
      const seen = this.sandbox.events.filter(
        (e) => e.callExternalId === callId && e.type === 'in',
      );
      const codes = new Set(seen.flatMap((e) => (e.codes as string[] | undefined) ?? []));
      return ringing.every((x) => codes.has(x)) ? seen : undefined;
    });
    const users = [...new Set(pops.flatMap((e) => (e.userIds as number[] | undefined) ?? []))];
    step(
      'CRM pop',
      `card of +${String(pops[0].phone)} shown to ${users.map(userName).join(', ')}` +
        (pops.length > 1 ? ` (${pops.length} pop requests)` : ''),
    );
  }

  async showHangup(callId: string): Promise<void> {
    current = `waiting for the hangup of ${callId}`;
    const hangup = await waitFor(`RetailCRM to receive the hangup of ${callId}`, () =>
      this.sandbox.events.find((e) => e.callExternalId === callId && e.type === 'hangup'),
    );
    step('CRM hangup', `card closed (${String(hangup.hangupStatus)})`);
  }

  async showLog(callId: string): Promise<Record<string, unknown>> {
    current = `waiting for the call log of ${callId}`;
    const log = await waitFor(`RetailCRM to receive the log of ${callId}`, () =>
      this.sandbox.uploadedCalls.get(callId),
    );
    const who = log.userId
      ? userName(log.userId)
      : log.code
        ? `extension ${String(log.code)}`
        : 'nobody';
    const rec = log.recordUrl ? `, recording ${shorten(String(log.recordUrl))}` : ', no recording';
    step(
      'CRM log',
      `${String(log.type)}, +${String(log.phone)}, ${String(log.result)}, ${who}, ${String(log.duration)} s${rec}`,
    );
    return log;
  }

  async knownCaller(): Promise<void> {
    title(2, 'A known client calls: Anna Smirnova from 8 (916) 123-45-67');
    current = 'routing a known caller';
    const callId = 'demo-known';
    const decision = await this.route(callId, '8 (916) 123-45-67');
    const { extension } = decision;
    if (extension !== '101' || decision.reason !== 'responsible')
      throw new DemoError(`expected route → 101 (responsible), got ${JSON.stringify(decision)}`);
    current = 'playing the known caller';
    await this.play((startAt) =>
      recordedCall({
        callId,
        from: '8 (916) 123-45-67',
        to: LINE,
        extension,
        talkS: 60,
        recordingUrl: `${this.pbx.url}/rec/${callId}.mp3`,
        startAt,
      }),
    );
    const log = await this.showLog(callId);
    if (!log.recordUrl) throw new DemoError('the log has no recording link');
    // The CRM plays the link without credentials; the hub streams the PBX's file behind it.
    current = 'fetching the recording link';
    const link = new URL(String(log.recordUrl));
    const audio = await httpRequest(link.origin, 'GET', link.pathname, { admin: false });
    step(
      'recording',
      `GET the link → ${audio.status} ${audio.headers.get('content-type')}, ${audio.text.length} bytes streamed from the PBX`,
    );
  }

  async missedUnknown(): Promise<void> {
    title(3, 'An unknown number calls, nobody answers');
    current = 'routing an unknown caller';
    const callId = 'demo-missed';
    await this.route(callId, '+7 999 555-00-11');
    current = 'playing the missed call';
    await this.play((startAt) =>
      missedCall({
        callId,
        from: '+7 999 555-00-11',
        extensions: ['101', '102'],
        ringS: 20,
        startAt,
      }),
    );
    current = 'waiting for the task of the missed call';
    const task = await waitFor('RetailCRM to receive the task for the missed caller', () =>
      this.sandbox.tasks.find((x) => String(x.phone ?? '') === '79995550011'),
    );
    step('CRM task', `#${task.id} "${String(task.text)}", due ${String(task.datetime)}`);
    await this.showLog(callId);
  }

  async ringAll(): Promise<void> {
    title(4, 'Ring-all group: Boris Kuznetsov calls the sales line, 101, 102 and 103 ring');
    current = 'playing the ring-all call';
    const callId = 'demo-group';
    await this.route(callId, '79037654321');
    await this.play((startAt) =>
      ringAllCall({
        callId,
        from: '79037654321',
        extensions: ['101', '102', '103'],
        answeredBy: '102',
        startAt,
      }),
    );
    await this.showLog(callId);
  }

  async outbound(): Promise<void> {
    title(5, 'Outbound: Ivan (101) calls Anna back');
    current = 'playing the outbound call';
    const callId = 'demo-outbound';
    await this.play((startAt) =>
      outboundCall({ callId, extension: '101', to: '8 (916) 123-45-67', startAt }),
    );
    await this.showLog(callId);
  }

  async clickToCall(): Promise<void> {
    title(6, "Click-to-call: Ivan clicks Anna's number in RetailCRM");
    current = 'click-to-call from the CRM';
    const module = await this.telephonyModule();
    const url = new URL(module.makeCallUrl);
    const query = new URLSearchParams({
      clientId: module.clientId,
      code: '101',
      phone: '89161234567',
      userId: '27',
    });
    // RetailCRM calls makeCallUrl itself; here the demo plays the CRM's part.
    const res = await httpRequest(url.origin, 'GET', `${url.pathname}?${query}`, { admin: false });
    step('CRM', `GET makeCallUrl?code=101&phone=89161234567 → ${res.status}`);
    if (res.status !== 200) throw new DemoError(`makeCallUrl answered ${res.status} ${res.text}`);
    const sent = await waitFor(
      'the PBX to receive the originate request',
      () => this.pbx.originates[0],
    );
    const body = JSON.parse(sent.raw) as { extension: string; to: string };
    const signature = checkHubSignature(
      this.tenant.webhookSecret,
      String(sent.headers['x-hub-timestamp']),
      String(sent.headers['x-hub-signature']),
      Buffer.from(sent.raw),
      Math.floor(Date.now() / 1000),
    );
    step(
      'PBX',
      `click-to-call reached the PBX: ring extension ${body.extension}, then dial ${body.to} (signature ${signature})`,
    );
  }

  async zadarmaStart(): Promise<void> {
    title(7, 'Zadarma: the same client calls a Zadarma line');
    current = 'the Zadarma leg';
    const source = await this.t.request('POST', `/v1/tenants/${this.tenant.id}/pbx-sources`, {
      body: {
        type: 'zadarma',
        config: { apiUrl: this.zadarma.url },
        credentials: { key: ZADARMA_KEY, secret: ZADARMA_SECRET },
      },
    });
    if (source.status !== 201) throw new DemoError(`Zadarma source refused: ${source.text}`);
    step('PBX source', `zadarma, API ${this.zadarma.url} (a fake of its REST API)`);
    // Zadarma sends the account's wall clock without an offset; the tenant is on Moscow time.
    const callStart = localIso(Date.now(), 180).slice(0, 19).replace('T', ' ');
    const call = new ZadarmaSimulator(ZADARMA_SECRET).answeredCall({
      caller: '79161234567',
      did: '74957654321',
      callStart,
    });
    const webhook = call.webhooks[0];
    const form = encodeForm(webhook.fields);
    const res = await this.t.request('POST', `/v1/pbx/${this.tenant.id}/zadarma`, {
      rawBody: form.body,
      headers: { 'content-type': form.contentType, signature: webhook.signature },
      admin: false,
    });
    if (res.status !== 200) throw new DemoError(`NOTIFY_START answered ${res.status} ${res.text}`);
    const reply = res.body as { redirect?: string; return_timeout?: number; caller_name?: string };
    step('Zadarma', `signed NOTIFY_START from ${webhook.fields.caller_id}`);
    step(
      'hub reply',
      reply.redirect
        ? `redirect → ${reply.redirect}, back to the menu after ${reply.return_timeout} s, caller name "${reply.caller_name}"`
        : 'no redirect: Zadarma runs its own scenario',
    );
    current = 'waiting for the hub to store the Zadarma call';
    const stored = await waitFor(
      `the hub to store the Zadarma call ${call.pbxCallId}`,
      async () => {
        const res = await this.t.request(
          'GET',
          `/v1/tenants/${this.tenant.id}/calls/${encodeURIComponent(call.pbxCallId)}`,
        );
        return res.status === 200 ? (res.body as { status: string; from: string }) : undefined;
      },
    );
    step(
      'hub',
      `stored the call ${shorten(call.pbxCallId, 16)} from ${stored.from} (${stored.status})`,
    );
  }

  /** A second tenant on amoCRM: OAuth, its notification, a log, one incoming lead, the widget. */
  async amocrm(): Promise<void> {
    title(8, 'amoCRM: a second shop connects through OAuth, takes a call and a missed one');
    current = 'starting the amoCRM sandbox';
    await this.amo.start();
    this.amo.addUser({ id: 5001, name: 'Ivan Petrov' });
    this.amo.addContact({
      id: 7001,
      name: 'Anna Smirnova',
      phones: ['8 916 123-45-67'],
      responsibleUserId: 5001,
    });
    step('amoCRM', `${this.amo.url} (a local sandbox of ${this.amo.accountHost})`);
    const shop = await createTenant(this.t, { name: 'Amo shop', defaultCountry: 'RU' });
    const created = await this.t.request('POST', `/v1/tenants/${shop.id}/integrations`, {
      body: {
        connector: 'amocrm',
        config: {
          baseDomain: this.amo.accountHost,
          clientId: this.amo.clientId,
          apiUrl: this.amo.url,
        },
        credentials: { clientSecret: this.amo.clientSecret },
      },
    });
    if (created.status !== 201) throw new DemoError(`amoCRM integration refused: ${created.text}`);
    const id = String(created.body.id);
    const authorize = new URL(String(created.body.authorizeUrl));
    step(
      'integration',
      `amocrm ${id}: ${created.body.status}, admin opens ${authorize.origin}${authorize.pathname}`,
    );
    // The admin clicks "Allow"; amoCRM redirects the browser to the hub with a one-time code.
    current = 'completing the amoCRM OAuth redirect';
    const { code, referer } = this.amo.consent(`${this.t.config.publicUrl}/v1/crm/amocrm/oauth`);
    const state = authorize.searchParams.get('state') ?? '';
    const redirect = await this.t.request(
      'GET',
      `/v1/crm/amocrm/oauth?${new URLSearchParams({ code, state, referer })}`,
      { admin: false },
    );
    const read = await this.t.request('GET', `/v1/tenants/${shop.id}/integrations/${id}`);
    step('OAuth', `redirect → ${redirect.status}; the integration is ${read.body.status}`);
    await this.t.request('PUT', `/v1/tenants/${shop.id}/agents`, {
      body: [{ extension: '101', name: 'Ivan Petrov', crmUsers: { [id]: '5001' } }],
    });
    await this.placeCallsAndListUsers(shop, id);

    const playOn = (script: (startAt: Date) => ScriptStep[], beforeEnd?: () => Promise<void>) =>
      this.playFor(shop, script, beforeEnd);
    current = 'playing a known caller on amoCRM';
    await playOn(
      (startAt) =>
        recordedCall({
          callId: 'amo-known',
          from: '8 (916) 123-45-67',
          to: LINE,
          extension: '101',
          talkS: 30,
          recordingUrl: `${this.pbx.url}/rec/amo-known.wav`,
          startAt,
        }),
      async () => {
        const popup = await waitFor('the amoCRM notification', async () => this.amo.popups[0]);
        step(
          'amoCRM pop',
          `incoming-call notification for ${popup.phone} to user ${popup.users.join(', ')}`,
        );
      },
    );
    const [logged] = await waitFor('the amoCRM call log', async () => {
      const calls = this.amo.callsWithUniq('amo-known');
      return calls.length ? calls : undefined;
    });
    step(
      'amoCRM log',
      `call ${String(logged.uniq)} on ${String(logged.entity_type)} ${String(logged.entity_id)}, ${String(logged.duration)} s, ` +
        `recording ${shorten(String(logged.link), 40)}`,
    );
    const link = new URL(String(logged.link));
    const audio = await httpRequest(link.origin, 'GET', link.pathname, { admin: false });
    step(
      'recording',
      `the PBX's WAV plays as ${audio.headers.get('content-type')} (${audio.status})`,
    );

    current = 'playing a missed unknown caller on amoCRM';
    await playOn((startAt) =>
      missedCall({
        callId: 'amo-missed',
        from: '+7 999 555-00-22',
        extensions: ['101'],
        ringS: 15,
        startAt,
      }),
    );
    const incoming = await waitFor('the amoCRM incoming lead', async () =>
      this.amo.unsorted.find((u) => u.metadata.uniq === 'amo-missed'),
    );
    step(
      'amoCRM lead',
      `one incoming lead ${incoming.uid.slice(0, 8)}… in "Unsorted" for the call (uniq amo-missed)`,
    );

    current = 'click-to-call from the amoCRM widget';
    const before = this.pbx.originates.length;
    const token = this.amo.disposableToken(5001, new URL(this.t.config.publicUrl).origin);
    const call = await this.t.request('POST', `/v1/crm/amocrm/${id}/widget/call`, {
      headers: { authorization: `Bearer ${token}` },
      body: { phone: '+79161234567' },
      admin: false,
    });
    await waitFor('the PBX to receive the widget click-to-call', async () =>
      this.pbx.originates.length > before ? true : undefined,
    );
    step(
      'widget',
      `Ivan clicks Anna's number → ${call.status}; the PBX rings 101, then +79161234567`,
    );
  }

  /** A generic PBX source that places click-to-call, and the CRM's users as the hub lists them. */
  async placeCallsAndListUsers(shop: CreatedTenant, id: string, note = ''): Promise<void> {
    await this.t.request('POST', `/v1/tenants/${shop.id}/pbx-sources`, {
      body: { type: 'generic', config: { originateUrl: `${this.pbx.url}/originate` } },
    });
    const users = await this.t.request('GET', `/v1/tenants/${shop.id}/integrations/${id}/users`);
    step(
      'users',
      (users.body as { crmUserId: string; name: string; extension?: string }[])
        .map((u) => `${u.name} (${u.crmUserId}) → ${u.extension ?? 'no extension'}`)
        .join(', ') + note,
    );
  }

  /** Plays a script for a tenant; a card pops only while a call rings, so it lands first. */
  async playFor(
    shop: CreatedTenant,
    script: (startAt: Date) => ScriptStep[],
    beforeEnd?: () => Promise<void>,
    /** Dated from now on, as a call placed now is (default: ending now). */
    fromNow = false,
  ): Promise<void> {
    const steps = script(
      new Date(fromNow ? Date.now() : Date.now() - scriptDurationMs(script(new Date()))),
    );
    let waited = false;
    let rang = false;
    await playScript(
      async (events: HubEvent[]) => {
        const res = await postEvents(this.t, shop, { events });
        if (res.status !== 202) throw new DemoError(`events refused: ${res.status} ${res.text}`);
        if (events.some((e) => e.type === 'call.ringing')) rang = true;
      },
      steps,
      {
        speed: SPEED,
        beforeStep: async (s) => {
          if (!waited && rang && beforeEnd && s.events.some((e) => e.type !== 'call.ringing')) {
            waited = true;
            await beforeEnd();
          }
          step('PBX', s.label);
        },
      },
    );
  }

  /**
   * A third tenant on Bitrix24: the local application's install event connects it, a ring
   * group gets its cards in one request, the call is finished with the answerer and the
   * recording, and a click in Bitrix24 is placed and finished on Bitrix24's own call.
   */
  async bitrix24(): Promise<void> {
    title(9, 'Bitrix24: a third shop installs the hub as a local application');
    current = 'starting the Bitrix24 sandbox';
    await this.b24.start();
    this.b24.addUser({ id: 11, name: 'Ivan', lastName: 'Petrov', extension: '101' });
    this.b24.addUser({ id: 12, name: 'Olga', lastName: 'Orlova', extension: '102' });
    this.b24.addContact({
      id: 797,
      name: 'Anna Smirnova',
      phones: ['8 916 123-45-67'],
      assignedById: 12,
    });
    const b24Name = (id: number) =>
      id === 11 ? 'Ivan Petrov' : id === 12 ? 'Olga Orlova' : `user ${id}`;
    step('Bitrix24', `${this.b24.url} (a local sandbox of a portal; 2 req/s, 50 at once)`);
    const shop = await createTenant(this.t, { name: 'Bitrix shop', defaultCountry: 'RU' });
    const created = await this.t.request('POST', `/v1/tenants/${shop.id}/integrations`, {
      body: {
        connector: 'bitrix24',
        config: { portalUrl: this.b24.url, oauthUrl: this.b24.url, lines: [LINE.slice(1)] },
        credentials: { clientId: this.b24.clientId, clientSecret: this.b24.clientSecret },
      },
    });
    if (created.status !== 201)
      throw new DemoError(`Bitrix24 integration refused: ${created.text}`);
    const id = String(created.body.id);
    step(
      'integration',
      `bitrix24 ${id}: ${created.body.status} until the application is installed`,
    );
    current = 'installing the Bitrix24 application';
    const installed = await this.b24.install(
      `${this.t.config.publicUrl}/v1/crm/bitrix24/${id}/install`,
    );
    const read = await this.t.request('GET', `/v1/tenants/${shop.id}/integrations/${id}`);
    step('install', `ONAPPINSTALL → ${installed.status}; the integration is ${read.body.status}`);
    await waitFor('the lines and the click-to-call binding', async () =>
      this.b24.lines().length && this.b24.bindings().length ? true : undefined,
    );
    step(
      'install',
      `line ${this.b24.lines()[0].NUMBER} registered; OnExternalCallStart bound to …/${id.slice(0, 8)}…/events`,
    );
    await this.placeCallsAndListUsers(shop, id, ' (from the portal: no agent map needed)');

    current = 'playing a ring group on Bitrix24';
    const callOf = () => this.b24.calls().find((c) => c.externalCallId === 'b24-group');
    await this.playFor(
      shop,
      (startAt) =>
        ringAllCall({
          callId: 'b24-group',
          from: '8 (916) 123-45-67',
          to: LINE,
          extensions: ['101', '102'],
          answeredBy: '102',
          talkS: 30,
          recordingUrl: `${this.pbx.url}/rec/b24-group.wav`,
          startAt,
        }),
      async () => {
        const call = await waitFor('the Bitrix24 call card', async () => {
          const c = callOf();
          return c && this.b24.cards(c.CALL_ID).shown.length === 2 ? c : undefined;
        });
        step(
          'Bitrix24 pop',
          `registered ${shorten(call.CALL_ID, 24)} and showed its card to ` +
            `${this.b24.cards(call.CALL_ID).shown.map(b24Name).join(', ')} in one batch request`,
        );
      },
    );
    const finished = await waitFor('the Bitrix24 finish and recording', async () => {
      const c = callOf();
      const stat = c && this.b24.statistics().find((s) => s.CALL_ID === c.CALL_ID);
      return stat && c && this.b24.records(c.CALL_ID) ? { c, stat } : undefined;
    });
    step(
      'Bitrix24 log',
      `finished with ${b24Name(finished.stat.PORTAL_USER_ID)}, ${finished.stat.CALL_DURATION} s, ` +
        `status ${finished.stat.CALL_FAILED_CODE}; card hidden for ${this.b24.cards(finished.c.CALL_ID).hidden.map(b24Name).join(', ')}`,
    );
    const record = this.b24.records(finished.c.CALL_ID);
    step(
      'recording',
      `Bitrix24 downloaded ${record?.fileName} (${record?.bytes.length} bytes of MP3)`,
    );

    current = 'click-to-call from Bitrix24';
    const before = this.pbx.originates.length;
    const clicked = await this.b24.clickToCall({ userId: 11, phone: '+79161234567' });
    await waitFor('the PBX to receive the Bitrix24 click-to-call', async () =>
      this.pbx.originates.length > before ? true : undefined,
    );
    step(
      'click-to-call',
      "Ivan clicks Anna's number in Bitrix24: the PBX rings 101, then +79161234567",
    );
    // The PBX reports the call it placed for the click from now on.
    await this.playFor(
      shop,
      (startAt) =>
        outboundCall({
          callId: 'b24-click',
          extension: '101',
          to: '+79161234567',
          talkS: 20,
          startAt,
        }),
      undefined,
      true,
    );
    const clickStat = await waitFor('the Bitrix24 finish of the clicked call', async () =>
      this.b24.statistics().find((s) => s.CALL_ID === clicked.callId),
    );
    step(
      'Bitrix24 log',
      `finished ${shorten(clicked.callId, 24)}, the call Bitrix24 registered for the click: ` +
        `${clickStat.CALL_DURATION} s, status ${clickStat.CALL_FAILED_CODE}, never registered again`,
    );
  }

  /**
   * After hours the PBX forwards Ivan's calls to his mobile: the call is still Ivan's (the agent
   * map knows his mobile). Then a virtual PBX with the "universal CRM API" asks the hub who
   * Boris is and whose client, and reports the call it put through to that manager.
   */
  async forwardedAndVats(): Promise<void> {
    title(10, "After hours: a call forwarded to Ivan's mobile, and a virtual PBX (VATS) call");
    current = "adding Ivan's mobile to the agent map";
    const agents = await this.t.request('PUT', `/v1/tenants/${this.tenant.id}/agents`, {
      body: USERS.map((u) => ({
        extension: u.code,
        name: `${u.firstName} ${u.lastName}`,
        ...(u.code === '101' ? { mobile: IVAN_MOBILE } : {}),
        crmUsers: { [this.integrationId]: String(u.id) },
      })),
    });
    if (agents.status !== 200) throw new DemoError(`agent map refused: ${agents.text}`);
    step('agents', `101 (Ivan Petrov) has the mobile ${IVAN_MOBILE}`);
    current = "playing a call forwarded to Ivan's mobile";
    await this.playFor(this.tenant, (startAt) =>
      answeredCall({
        callId: 'demo-mobile',
        from: '8 (916) 123-45-67',
        to: LINE,
        extension: IVAN_MOBILE,
        talkS: 40,
        startAt,
      }),
    );
    const call = await waitFor('the forwarded call to end', async () => {
      const res = await this.t.request('GET', `/v1/tenants/${this.tenant.id}/calls/demo-mobile`);
      return res.body?.status === 'ended' ? res.body : undefined;
    });
    step(
      'hub',
      `answered at ${IVAN_MOBILE}: the call is ${String(call.answeredBy)}'s (${String(call.result)})`,
    );
    await this.showLog('demo-mobile');

    current = 'connecting a VATS source';
    await this.vats.start();
    const source = await this.t.request('POST', `/v1/tenants/${this.tenant.id}/pbx-sources`, {
      body: {
        type: 'vats',
        config: { apiUrl: this.vats.url },
        credentials: { crmToken: VATS_CRM_TOKEN, apiKey: VATS_API_KEY },
      },
    });
    if (source.status !== 201) throw new DemoError(`VATS source refused: ${source.text}`);
    const crmUrl = `${this.t.url}/v1/pbx/${this.tenant.id}/vats`;
    step('VATS', `${this.vats.url} (a local stand-in); its CRM address is …/v1/pbx/<tenant>/vats`);
    const pbx = new VatsPbx({ crmUrl, crmToken: VATS_CRM_TOKEN, api: this.vats });
    current = 'playing a VATS call';
    const played = await pbx.inboundAnswered({
      phone: '79037654321',
      diversion: LINE.slice(1),
      durationS: 45,
      recorded: true,
      callid: 'vats-demo-1',
    });
    const contact = played.replies[0];
    step('VATS', 'cmd=contact phone=79037654321 (Boris calls)');
    step('hub reply', JSON.stringify(contact.body));
    step('VATS', `puts the call through to ${played.history.user}; events, then history`);
    await this.showLog(played.callid);
  }

  async summary(): Promise<void> {
    title(11, "The hub's view: GET /v1/tenants/:id/calls and each call's CRM actions");
    current = 'listing the calls';
    const list = await this.t.request('GET', `/v1/tenants/${this.tenant.id}/calls?limit=20`);
    const items = (list.body?.items ?? []) as {
      callId: string;
      direction: string;
      status: string;
      result: string | null;
      extension: string | null;
    }[];
    for (const call of [...items].reverse()) {
      const detail = await this.t.request(
        'GET',
        `/v1/tenants/${this.tenant.id}/calls/${encodeURIComponent(call.callId)}`,
      );
      const actions = (detail.body?.integrations?.[0]?.actions ?? {}) as Actions;
      const done = Object.entries(actions)
        .map(([name, a]) => `${name} ${a.status}${a.lastError ? ` (${a.lastError})` : ''}`)
        .join(', ');
      say(
        `   ${shorten(call.callId, 18).padEnd(21)}${call.direction.padEnd(9)}${(call.result ?? call.status).padEnd(9)}` +
          `${(call.extension ?? '-').padEnd(5)}${done || 'no CRM actions'}`,
      );
    }
  }

  async close(): Promise<void> {
    // Each part is closed even when another fails, so a broken demo leaves no database behind.
    const parts: (() => Promise<void>)[] = [
      async () => this.hub?.close(),
      () => this.sandbox.stop(),
      () => this.pbx.stop(),
      () => this.zadarma.stop(),
      () => this.publicAddress.stop(),
      () => this.amo.stop(),
      () => this.b24.stop(),
      () => this.vats.stop(),
    ];
    for (const part of parts) await part().catch(() => undefined);
  }
}

async function main(): Promise<number> {
  const started = Date.now();
  const watchdog = setTimeout(() => {
    console.error(`\ndemo: gave up after ${DEMO_BUDGET_MS / 1000} s while ${current}`);
    process.exit(1);
  }, DEMO_BUDGET_MS);
  const demo = new Demo();
  // Ctrl-C still drops the demo's database and Redis keys.
  process.once('SIGINT', () => {
    console.error('\ndemo: interrupted, cleaning up');
    void demo.close().finally(() => process.exit(130));
  });
  try {
    current = 'checking MariaDB and Redis';
    await checkServers();
    await demo.setup();
    await demo.knownCaller();
    await demo.missedUnknown();
    await demo.ringAll();
    await demo.outbound();
    await demo.clickToCall();
    await demo.zadarmaStart();
    await demo.amocrm();
    await demo.bitrix24();
    await demo.forwardedAndVats();
    await demo.summary();
    current = 'cleaning up';
    await demo.close();
    say(`\nDone in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
    return 0;
  } catch (err) {
    const message = err instanceof DemoError ? err.message : (err as Error).stack;
    console.error(`\ndemo failed while ${current}:\n  ${message}`);
    await demo.close();
    return 1;
  } finally {
    clearTimeout(watchdog);
  }
}

// Exits explicitly: a Redis client or keep-alive socket left by a failed step must not hang the demo.
void main().then((code) => process.exit(code));
