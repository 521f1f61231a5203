/**
 * npm run bench: boots the built hub in production mode (LOG_LEVEL=warn) on the local
 * MariaDB and Redis with a RetailCRM sandbox (realistic latency, real limits), drives
 * it with autocannon, prints a table and writes bench/results/<date>.json.
 *
 * Env: BENCH_DURATION_S (ingest and reference run length, default 60; routing runs ≤ 20 s),
 *      BENCH_DRAIN_CALLS (answered calls spread over 60 s in scenario d, default 1000),
 *      BENCH_CRM_LATENCY_MS (sandbox median, default 150; 1% of requests take 1 s).
 */
import autocannon from 'autocannon';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { RetailcrmSandbox } from '../connectors/retailcrm/retailcrm.sandbox';
import { loadConfig } from '../src/config/config';
import { freePort, HubProcess } from '../test/support/hub-process';
import { httpRequest } from '../test/support/test-app';
import { dropTestResources, testEnv } from '../test/support/test-env';
import { encodeForm, FakeZadarmaApi, ZadarmaSimulator } from '../test/support/zadarma-simulator';
import { bitrix24Team } from './bitrix24-team';
import { startReference } from './reference-server';
import { statsScenario } from './stats';
import * as throughput from './throughput';

const DURATION = Number(process.env.BENCH_DURATION_S ?? 60);
const DRAIN_CALLS = Number(process.env.BENCH_DRAIN_CALLS ?? 1000);
/** BENCH_SCENARIOS=a,b,b',z,c,d,f,e,s,sustained,ab,ref,profile runs a subset (default: all). */
const SCENARIOS = (
  process.env.BENCH_SCENARIOS ?? "a,b,b',z,c,d,f,e,s,sustained,ab,ref,profile"
).split(',');
const want = (name: string): boolean => SCENARIOS.includes(name);
const CRM_MEDIAN = Number(process.env.BENCH_CRM_LATENCY_MS ?? 150);

interface Row {
  scenario: string;
  metric: string;
  value: string;
}
const rows: Row[] = [];
const record = (scenario: string, metric: string, value: string | number) => {
  rows.push({ scenario, metric, value: String(value) });
  console.log(`  ${scenario.padEnd(22)} ${metric.padEnd(34)} ${value}`);
};

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/** Realistic CRM latency: log-normal-ish around the median with a 1 s tail. */
function crmLatency(): number {
  if (Math.random() < 0.01) return 1000;
  return Math.max(20, CRM_MEDIAN * Math.exp((Math.random() - 0.5) * 0.8));
}

async function main(): Promise<void> {
  const env = testEnv({
    LOG_LEVEL: 'warn',
    HUB_WORKER_CONCURRENCY: '16',
    HUB_STATS_REFRESH_S: '5',
  });
  const config = loadConfig(env);
  const sandbox = new RetailcrmSandbox({ latencyMs: crmLatency, recordRequests: true });
  await sandbox.start();
  sandbox.addUser({ id: 27, firstName: 'Ivan', code: '101' });
  for (let i = 0; i < 200; i++) {
    sandbox.addCustomer({
      id: 1000 + i,
      firstName: `Client ${i}`,
      phones: [`+7916${String(1000000 + i)}`],
      managerId: 27,
    });
  }
  const hub = new HubProcess({ ...env, HUB_PUBLIC_URL: 'http://127.0.0.1:9' }, await freePort());
  const db = await createConnection({ uri: config.databaseUrl }).catch(() => null);
  await db?.end();
  console.log(
    `machine: ${cpus().length} × ${cpus()[0]?.model}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`,
  );
  await hub.start(120000);
  try {
    const tenant = (
      await httpRequest(hub.url, 'POST', '/v1/tenants', {
        body: { name: 'Bench', routingBudgetMs: 800 },
      })
    ).body as {
      id: string;
      apiKey: string;
    };
    const integ = await httpRequest(hub.url, 'POST', `/v1/tenants/${tenant.id}/integrations`, {
      body: {
        connector: 'retailcrm',
        config: { url: sandbox.url },
        credentials: { apiKey: sandbox.apiKey },
      },
    });
    await httpRequest(hub.url, 'PUT', `/v1/tenants/${tenant.id}/agents`, {
      body: [{ extension: '101', crmUsers: { [integ.body.id]: '27' } }],
    });
    const headers = { 'content-type': 'application/json', 'x-api-key': tenant.apiKey };

    const conn = await createConnection({ uri: config.databaseUrl });
    if (want('a')) {
      // a. ingest: single events, 50 connections, each a fresh id (internal calls: no CRM work).
      console.log('a. ingest');
      const server = await throughput.serverLatency(hub.url);
      let n = 0;
      const ingest = await autocannon({
        url: `${hub.url}/v1/pbx/${tenant.id}/events`,
        method: 'POST',
        connections: 50,
        duration: DURATION,
        headers,
        requests: [
          {
            setupRequest: (req) => {
              const i = n++;
              req.body = JSON.stringify({
                id: `b-${i}`,
                callId: `bc-${i >> 2}`,
                type: 'call.ringing',
                direction: 'internal',
                from: '101',
                to: '102',
                extension: '102',
                at: new Date().toISOString(),
              });
              return req;
            },
          },
        ],
      });
      record('a. ingest', 'events/s (mean)', Math.round(ingest.requests.average));
      record(
        'a. ingest',
        'ack latency p50 / p99 ms',
        `${ingest.latency.p50} / ${ingest.latency.p99}`,
      );
      record('a. ingest', 'non-2xx / errors', `${ingest.non2xx} / ${ingest.errors}`);
      await server(record, 'a. ingest', throughput.SERVER_INGEST);
      const t0 = Date.now();
      let pending = 1;
      while (pending > 0 && Date.now() - t0 < 120000) {
        const [[row]] = (await conn.query(
          'SELECT SUM(processed_at IS NULL) AS p, COUNT(*) AS n FROM call_events',
        )) as unknown as [{ p: string; n: number }[]];
        pending = Number(row.p);
        if (pending > 0) await new Promise((r) => setTimeout(r, 250));
        else record('a. ingest', 'stored / accepted (loss)', `${row.n} / ${ingest['2xx']}`);
      }
      record('a. ingest', 'drain after load (s)', ((Date.now() - t0) / 1000).toFixed(1));
    }
    if (want('b')) {
      // b. routing with a warm cache at 500 req/s.
      console.log('b. routing');
      for (let i = 0; i < 200; i++) {
        await httpRequest(hub.url, 'POST', `/v1/pbx/${tenant.id}/route`, {
          body: { callId: `w${i}`, from: `+7916${1000000 + i}` },
          headers,
        });
      }
      let r = 0;
      const server = await throughput.serverLatency(hub.url);
      const routing = await autocannon({
        url: `${hub.url}/v1/pbx/${tenant.id}/route`,
        method: 'POST',
        // A few keep-alive connections, as from a PBX cluster; all-at-once bursts on many
        // connections measure the generator's tick more than the hub.
        connections: 4,
        overallRate: 500,
        duration: Math.min(DURATION, 20),
        headers,
        requests: [
          {
            setupRequest: (req) => ({
              ...req,
              body: JSON.stringify({ callId: `r${r}`, from: `+7916${1000000 + (r++ % 200)}` }),
            }),
          },
        ],
      });
      record(
        'b. routing warm',
        'p50 / p99 ms at 500 req/s',
        `${routing.latency.p50} / ${routing.latency.p99}`,
      );
      await server(record, 'b. routing warm', throughput.SERVER_ROUTE);
    }
    if (want("b'")) {
      // b'. routing with the CRM stalled: unknown numbers, every lookup hangs; answers must still
      // come within the tenant's budget (800 ms), falling back to crm_timeout.
      console.log("b'. routing, CRM stalled");
      sandbox.hangNext(1000, 5000);
      let s2 = 0;
      const stalled = await autocannon({
        url: `${hub.url}/v1/pbx/${tenant.id}/route`,
        method: 'POST',
        connections: 50,
        overallRate: 50,
        duration: 10,
        headers,
        requests: [
          {
            setupRequest: (req) => ({
              ...req,
              body: JSON.stringify({ callId: `s${s2}`, from: `+7903${2000000 + s2++}` }),
            }),
          },
        ],
      });
      sandbox.clearFaults();
      // The hung lookups finish in the background within 5 s; let them before measuring pops.
      await new Promise((res) => setTimeout(res, 5500));
      record(
        "b'. routing, CRM stalled",
        'p50 / p99 / max ms (budget 800)',
        `${stalled.latency.p50} / ${stalled.latency.p99} / ${stalled.latency.max}`,
      );
    }
    if (want('z')) {
      // z. Zadarma NOTIFY_START steering: known callers one after another, as a PBX sends them;
      // each reply (redirect to the responsible manager) must come within the routing budget.
      console.log('z. Zadarma steering');
      const api = new FakeZadarmaApi('bench-zd-key', 'bench-zd-secret-0123456789');
      await api.start();
      const source = await httpRequest(hub.url, 'POST', `/v1/tenants/${tenant.id}/pbx-sources`, {
        body: {
          type: 'zadarma',
          config: { apiUrl: api.url },
          credentials: { key: api.key, secret: api.secret },
        },
      });
      if (source.status !== 201) throw new Error(`zadarma source: ${source.status} ${source.text}`);
      const sim = new ZadarmaSimulator(api.secret);
      const times: number[] = [];
      let redirected = 0;
      for (let i = 0; i < 500; i++) {
        const start = sim.answeredCall({ caller: `7916${1000000 + (i % 200)}` }).webhooks[0];
        const enc = encodeForm(start.fields);
        const began = performance.now();
        const res = await httpRequest(hub.url, 'POST', `/v1/pbx/${tenant.id}/zadarma`, {
          rawBody: enc.body,
          headers: { 'content-type': enc.contentType, signature: start.signature },
          admin: false,
        });
        times.push(performance.now() - began);
        if (res.status === 200 && (res.body as { redirect?: string }).redirect === '101') {
          redirected++;
        }
      }
      await api.stop();
      record('z. Zadarma steering', 'redirected / NOTIFY_START', `${redirected} / 500`);
      record(
        'z. Zadarma steering',
        'reply p50 / p99 / max ms (budget 800)',
        `${percentile(times, 50).toFixed(1)} / ${percentile(times, 99).toFixed(1)} / ${Math.max(...times).toFixed(1)}`,
      );
    }
    if (want('c')) {
      // c. pops: 10 calls/s, ring-all groups of 5, event accepted → CRM pop request sent.
      console.log('c. pops');
      sandbox.clearRequests();
      const server = await throughput.serverLatency(hub.url);
      const sentAt = new Map<string, number>();
      for (let i = 0; i < 100; i++) {
        const callId = `pop-${i}`;
        const events = ['101', '102', '103', '104', '105'].map((ext, k) => ({
          id: `${callId}-${k}`,
          callId,
          type: 'call.ringing',
          direction: 'inbound',
          from: `+7916${1000000 + (i % 200)}`,
          to: '+74957654321',
          extension: ext,
          at: new Date().toISOString(),
        }));
        const t = Date.now();
        await httpRequest(hub.url, 'POST', `/v1/pbx/${tenant.id}/events`, {
          body: { events },
          headers,
        });
        sentAt.set(callId, t);
        await new Promise((res) => setTimeout(res, 100));
      }
      await new Promise((res) => setTimeout(res, 3000));
      const pops = sandbox.requests.filter((q) => q.path.endsWith('/telephony/call/event'));
      const lat = pops
        .map((q) => {
          const ev = q.form.event as { callExternalId: string; type: string };
          const s = sentAt.get(ev.callExternalId);
          return s !== undefined && ev.type === 'in' ? q.at - s : undefined;
        })
        .filter((v): v is number => v !== undefined);
      record('c. pops', 'pop requests / calls', `${lat.length} / 100`);
      record(
        'c. pops',
        'accepted → pop sent p50 / p99 ms',
        `${percentile(lat, 50)} / ${percentile(lat, 99)}`,
      );
      await server(record, 'c. pops', throughput.SERVER_INGEST, throughput.SERVER_POP);
    }
    if (want('d')) {
      // d. CRM-limited drain: answered calls spread over 60 s against the sandbox's 10 / 40 req/s.
      console.log('d. CRM-limited drain');
      sandbox.clearRequests();
      const t1 = Date.now();
      const spacing = 60000 / DRAIN_CALLS;
      const sends: Promise<unknown>[] = [];
      for (let i = 0; i < DRAIN_CALLS; i++) {
        const callId = `ans-${i}`;
        const from = `+7916${1000000 + (i % 200)}`;
        const wait = t1 + i * spacing - Date.now();
        if (wait > 0) await new Promise((res) => setTimeout(res, wait));
        const ringAt = new Date();
        sends.push(
          httpRequest(hub.url, 'POST', `/v1/pbx/${tenant.id}/events`, {
            body: {
              id: `${callId}-r`,
              callId,
              type: 'call.ringing',
              direction: 'inbound',
              from,
              to: '+74957654321',
              extension: '101',
              at: ringAt.toISOString(),
            },
            headers,
          }).then(() =>
            new Promise((res) => setTimeout(res, 1500)).then(() =>
              httpRequest(hub.url, 'POST', `/v1/pbx/${tenant.id}/events`, {
                body: {
                  events: [
                    {
                      id: `${callId}-a`,
                      callId,
                      type: 'call.answered',
                      extension: '101',
                      at: new Date(ringAt.getTime() + 1000).toISOString(),
                    },
                    {
                      id: `${callId}-e`,
                      callId,
                      type: 'call.ended',
                      result: 'answered',
                      duration: 1,
                      at: new Date().toISOString(),
                    },
                  ],
                },
                headers,
              }),
            ),
          ),
        );
      }
      await Promise.all(sends);
      const sentFor = (Date.now() - t1) / 1000;
      while (sandbox.uploadedCalls.size < DRAIN_CALLS && Date.now() - t1 < 300000) {
        await new Promise((res) => setTimeout(res, 250));
      }
      const crmRequests = sandbox.requests.filter(
        (q) => !q.path.includes('/integration-modules'),
      ).length;
      record(
        'd. CRM-limited drain',
        'calls logged',
        `${sandbox.uploadedCalls.size} / ${DRAIN_CALLS}`,
      );
      record(
        'd. CRM-limited drain',
        'CRM requests per answered call',
        (crmRequests / DRAIN_CALLS).toFixed(2),
      );
      record(
        'd. CRM-limited drain',
        'all logged after (s); sending took',
        `${((Date.now() - t1) / 1000).toFixed(1)}; ${sentFor.toFixed(1)}`,
      );
      record(
        'd. CRM-limited drain',
        'rate-limit rejections by the CRM',
        sandbox.rateLimitRejections,
      );
      record(
        'd. CRM-limited drain',
        'max req/s seen: default / telephony',
        `${sandbox.maxPerSecondObserved('default')} / ${sandbox.maxPerSecondObserved('telephony')}`,
      );
    }
    if (want('f')) {
      console.log('f. Bitrix24 team');
      const f = await bitrix24Team(hub.url, crmLatency);
      const name = 'f. Bitrix24 50 agents';
      record(name, 'calls finished in Bitrix24', `${f.finished} / ${f.calls}`);
      record(
        name,
        'ringing → card shown p50 / p99 / max ms',
        `${f.popP50Ms} / ${f.popP99Ms} / ${f.popMaxMs}`,
      );
      record(name, 'burst of 50 at once: slowest card ms', f.burstMaxMs);
      record(name, 'cards before the second ring (5 s)', `${f.beforeSecondRing} / ${f.calls}`);
      record(name, 'requests per call', f.requestsPerCall.toFixed(2));
      record(name, 'requests by method', f.byMethod);
      record(name, 'QUERY_LIMIT_EXCEEDED', f.rejections);
      record(name, 'max requests in any second', f.maxLevel);
      record(name, 'all finished after (s)', f.allFinishedS.toFixed(1));
    }
    if (want('e')) {
      // e. memory with 10,000 calls in progress (ringing, not ended).
      console.log('e. memory');
      const inProgress = 10000;
      for (let i = 0; i < inProgress; i += 500) {
        const events = Array.from({ length: 500 }, (_, k) => ({
          id: `m-${i + k}`,
          callId: `mem-${i + k}`,
          type: 'call.ringing',
          direction: 'internal',
          from: '101',
          to: '102',
          extension: '102',
          at: new Date().toISOString(),
        }));
        await httpRequest(hub.url, 'POST', `/v1/pbx/${tenant.id}/events`, {
          body: { events },
          headers,
        });
      }
      const t2 = Date.now();
      for (;;) {
        const [[row]] = (await conn.query(
          "SELECT COUNT(*) AS n FROM calls WHERE call_id LIKE 'mem-%'",
        )) as unknown as [{ n: number }[]];
        if (Number(row.n) >= inProgress || Date.now() - t2 > 120000) break;
        await new Promise((res) => setTimeout(res, 250));
      }
      const status = readFileSync(`/proc/${hub.pid}/status`, 'utf8');
      const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
      record('e. memory', 'RSS with 10,000 calls in progress', `${Math.round(rssKb / 1024)} MB`);
    }
    if (want('s')) {
      // s. statistics over 1,000,000 calls of one tenant, one console request at a time.
      console.log('s. statistics');
      const st = await statsScenario(hub.url, conn, console.log);
      const name = `s. stats, ${st.calls.toLocaleString('en')} calls`;
      record(
        name,
        'seeded in (s); all days summed after (s)',
        `${st.seedS.toFixed(0)}; ${st.sumS.toFixed(1)}`,
      );
      record(
        name,
        `p50 / p95 ms over ${st.requests} requests`,
        `${st.p50.toFixed(1)} / ${st.p95.toFixed(1)}`,
      );
      const slowest = st.shapes.reduce((a, b) => (b.p95 > a.p95 ? b : a));
      record(
        name,
        `slowest shape (${slowest.shape}) p50 / p95 ms`,
        `${slowest.p50.toFixed(1)} / ${slowest.p95.toFixed(1)}`,
      );
      for (const sh of st.shapes)
        console.log(
          `    ${sh.shape.padEnd(16)} p50 ${sh.p50.toFixed(1)} ms, p95 ${sh.p95.toFixed(1)} ms`,
        );
    }
    const bench = { hubUrl: hub.url, headers, tenantId: tenant.id, conn, record, rows };
    if (want('sustained')) {
      console.log('s5. sustained');
      await throughput.sustained(bench);
    }
    if (want('ab')) {
      console.log('ab. hub vs reference');
      await throughput.abAgainstReference(bench, config);
    }
    await conn.end();
  } finally {
    await hub.stop();
  }

  // reference: the same durable work per event, no framework.
  if (want('ref')) {
    console.log('reference');
    const refPort = await freePort();
    const ref = await startReference(
      config.databaseUrl,
      config.redisUrl,
      `${config.redisPrefix}-ref`,
      refPort,
    );
    let m = 0;
    const refRun = await autocannon({
      url: `http://127.0.0.1:${refPort}/`,
      method: 'POST',
      connections: 50,
      duration: DURATION,
      headers: { 'content-type': 'application/json' },
      requests: [
        {
          setupRequest: (req) => ({
            ...req,
            body: JSON.stringify({ id: `ref-${m++}`, callId: 'x', type: 'call.ringing' }),
          }),
        },
      ],
    });
    await ref.close();
    record('reference', 'events/s (mean)', Math.round(refRun.requests.average));
    record(
      'reference',
      'ack latency p50 / p99 ms',
      `${refRun.latency.p50} / ${refRun.latency.p99}`,
    );
    const hubRate = Number(
      rows.find((x) => x.scenario === 'a. ingest' && x.metric === 'events/s (mean)')?.value,
    );
    record(
      'a. ingest',
      'fraction of reference',
      `${Math.round((hubRate / refRun.requests.average) * 100)} %`,
    );
  }
  if (want('profile')) {
    console.log('profile');
    await throughput.profile({ ...env, HUB_PUBLIC_URL: 'http://127.0.0.1:9' }, record, sandbox);
  }
  await sandbox.stop();
  await dropTestResources(config);
  // A partial run must not overwrite the day's full results.
  const suffix = process.env.BENCH_SCENARIOS ? '-partial' : '';
  const out = join(__dirname, 'results', `${new Date().toISOString().slice(0, 10)}${suffix}.json`);
  mkdirSync(join(__dirname, 'results'), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify(
      {
        at: new Date().toISOString(),
        machine: {
          cpus: cpus().length,
          model: cpus()[0]?.model,
          memGiB: Math.round(totalmem() / 2 ** 30),
          node: process.version,
        },
        durationS: DURATION,
        crmMedianMs: CRM_MEDIAN,
        rows,
      },
      null,
      2,
    ),
  );
  console.log(
    `\n| scenario | metric | value |\n|---|---|---|\n${rows.map((x) => `| ${x.scenario} | ${x.metric} | ${x.value} |`).join('\n')}`,
  );
  console.log(`\nwritten ${out}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
