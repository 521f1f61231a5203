/**
 * What the ingest burst (scenario a) does not tell: the rate the hub sustains with its
 * processing keeping up (s5), the hub's own latency beside the load generator's (both share
 * the machine's cores), the hub against the bare reference in alternating rounds (ab), and
 * where the hub's CPU goes under ingest (profile).
 *
 * Env: BENCH_SUSTAINED_S (confirming run, default 300), BENCH_PROBE_S (each probe, default 30),
 *      BENCH_AB_S (each A/B round, default 30), BENCH_PROFILE_S (profiled burst, default 20),
 *      BENCH_PROFILE_ENTRY (source | built: how the profiled hub runs, default source as the
 *      bench's hub).
 */
import autocannon from 'autocannon';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Connection } from 'mysql2/promise';
import { freePort, HubProcess } from '../test/support/hub-process';
import { Scrape } from '../test/support/prometheus';
import { httpRequest } from '../test/support/test-app';
import { startReference } from './reference-server';
import { BacklogSample, boundedness, drainBacklog, sampleBacklog } from './sustained';

const SUSTAINED_S = Number(process.env.BENCH_SUSTAINED_S ?? 300);
const PROBE_S = Number(process.env.BENCH_PROBE_S ?? 30);
const AB_S = Number(process.env.BENCH_AB_S ?? 30);
const PROFILE_S = Number(process.env.BENCH_PROFILE_S ?? 20);
const PROFILE_ENTRY = process.env.BENCH_PROFILE_ENTRY === 'built' ? 'built' : 'source';
/** Without a burst figure from scenario a, probing starts here. */
const DEFAULT_START_RATE = 4000;
/** A probe whose generator sent less than this share of the target did not offer the rate. */
const OFFERED_SHARE = 0.9;
const MAX_PROBES = 20;
const ROOT = join(__dirname, '..');

export type RecordRow = (scenario: string, metric: string, value: string | number) => void;

export interface Bench {
  hubUrl: string;
  headers: { [name: string]: string };
  tenantId: string;
  conn: Connection;
  record: RecordRow;
  /** The rows recorded so far (the burst rate of scenario a is read from them). */
  rows: { scenario: string; metric: string; value: string }[];
}

/** Scenario a's load: single internal-call ringing events (no CRM work), each a fresh id. */
export function ingest(
  url: string,
  headers: Bench['headers'],
  prefix: string,
  opts: { duration: number; overallRate?: number; connections?: number },
): Promise<autocannon.Result> {
  let n = 0;
  return autocannon({
    url,
    method: 'POST',
    connections: opts.connections ?? 50,
    duration: opts.duration,
    ...(opts.overallRate ? { overallRate: opts.overallRate } : {}),
    headers,
    requests: [
      {
        setupRequest: (req) => {
          const i = n++;
          req.body = JSON.stringify({
            id: `${prefix}-${i}`,
            callId: `${prefix}c-${i >> 2}`,
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
}

/** Accepted (2xx) events per second over the whole run. */
const accepted = (r: autocannon.Result): number => r['2xx'] / r.duration;

// ---------------------------------------------------------------- server-side latency

/** A histogram of the hub's /metrics, and the text that names it in a row. */
export interface Series {
  label: string;
  name: string;
  labels?: { [name: string]: string };
}
export const SERVER_INGEST: Series = {
  label: 'server ingest',
  name: 'hub_ingest_duration_seconds',
  labels: { source: 'generic' },
};
export const SERVER_ROUTE: Series = {
  label: 'server route',
  name: 'hub_route_request_duration_seconds',
};
export const SERVER_POP: Series = { label: 'server pop', name: 'hub_pop_latency_seconds' };

async function scrape(hubUrl: string): Promise<Scrape> {
  const res = await fetch(`${hubUrl}/metrics`);
  if (res.status !== 200) throw new Error(`/metrics: ${res.status}`);
  return new Scrape(await res.text());
}

/** Observations per bucket between two scrapes: [upper bound, cumulative count] by bound. */
function bucketDeltas(before: Scrape, after: Scrape, series: Series): [number, number][] {
  const bounds = after.samples
    .filter(
      (s) =>
        s.name === `${series.name}_bucket` &&
        Object.entries(series.labels ?? {}).every(([k, v]) => s.labels[k] === v),
    )
    .map((s) => s.labels.le);
  return [...new Set(bounds)]
    .map((le): [number, number] => {
      const labels = { ...series.labels, le };
      return [
        le === '+Inf' ? Infinity : Number(le),
        after.sum(`${series.name}_bucket`, labels) - before.sum(`${series.name}_bucket`, labels),
      ];
    })
    .sort((a, b) => a[0] - b[0]);
}

/**
 * The q-quantile (seconds) of cumulative bucket counts, interpolated linearly inside its
 * bucket as Prometheus' histogram_quantile does; in the +Inf bucket, the highest finite bound.
 */
export function bucketQuantile(buckets: [number, number][], q: number): number {
  const total = buckets.at(-1)?.[1] ?? 0;
  if (total === 0) return NaN;
  const rank = q * total;
  let lower = 0;
  let below = 0;
  for (const [upper, count] of buckets) {
    if (count >= rank) {
      if (upper === Infinity) return lower;
      return count === below ? upper : lower + ((upper - lower) * (rank - below)) / (count - below);
    }
    lower = upper;
    below = count;
  }
  return lower;
}

const ms = (s: number): string => (Number.isNaN(s) ? 'n/a' : (s * 1000).toFixed(2));

/**
 * Reads the hub's histograms now; the function it gives reads them again and records, for
 * each series, p50 / p99 of what was observed in between (the hub's own time, whatever the
 * load generator's scheduling on the same cores).
 */
export async function serverLatency(hubUrl: string) {
  const before = await scrape(hubUrl);
  return async (record: RecordRow, scenario: string, ...series: Series[]): Promise<void> => {
    const after = await scrape(hubUrl);
    for (const s of series) {
      const buckets = bucketDeltas(before, after, s);
      const n = buckets.at(-1)?.[1] ?? 0;
      record(
        scenario,
        `${s.label} p50 / p99 ms (n)`,
        `${ms(bucketQuantile(buckets, 0.5))} / ${ms(bucketQuantile(buckets, 0.99))} (${n})`,
      );
    }
  };
}

// ---------------------------------------------------------------- s5. sustained

interface Probe {
  rate: number;
  result: autocannon.Result;
  check: ReturnType<typeof boundedness>;
  /** Events the hub finished per second during the run (accepted less backlog growth). */
  processed: number;
  offered: boolean;
  drainS: number;
  samples: BacklogSample[];
}

async function run(bench: Bench, rate: number, seconds: number, tag: string): Promise<Probe> {
  const start = await drainBacklog(bench.conn);
  if (Number.isNaN(start)) throw new Error('the backlog did not drain before the run');
  const sampler = sampleBacklog(bench.conn);
  const result = await ingest(
    `${bench.hubUrl}/v1/pbx/${bench.tenantId}/events`,
    bench.headers,
    tag,
    {
      duration: seconds,
      overallRate: rate,
    },
  );
  const t0 = Date.now();
  const samples = await sampler.stop();
  const drainS = await drainBacklog(bench.conn);
  const check = boundedness(samples, rate);
  const processed = (result['2xx'] - (check.end - (samples[0]?.backlog ?? 0))) / result.duration;
  return {
    rate,
    result,
    check,
    processed,
    offered: accepted(result) >= OFFERED_SHARE * rate,
    samples,
    // From the end of the load, not from the last reading.
    drainS: Number.isNaN(drainS) ? NaN : (Date.now() - t0) / 1000,
  };
}

const describe = (p: Probe): string =>
  `${p.rate}/s → ${Math.round(accepted(p.result))}/s acked, ${Math.round(p.processed)}/s done, ` +
  `backlog peak ${p.check.peak} end ${p.check.end}: ${p.check.bounded ? 'bounded' : p.check.why}` +
  `${p.offered ? '' : ' (rate not offered)'}`;

/**
 * s5: the highest ingest rate (on a 10 % grid from the burst rate down) whose backlog stays
 * bounded in a short probe, then held for BENCH_SUSTAINED_S. A probe that fails skips the grid
 * steps above what the hub acked or processed in it (those would fail too).
 */
export async function sustained(bench: Bench): Promise<void> {
  const name = 's5. sustained';
  const burst = Number(
    bench.rows.find((x) => x.scenario === 'a. ingest' && x.metric === 'events/s (mean)')?.value,
  );
  let rate = Math.round(burst > 0 ? burst : DEFAULT_START_RATE);
  const probes: Probe[] = [];
  for (let i = 0; i < MAX_PROBES; i++) {
    const probe = await run(bench, rate, PROBE_S, `p${i}-${rate}`);
    probes.push(probe);
    console.log(`  probe ${describe(probe)}; drained in ${probe.drainS.toFixed(1)} s`);
    if (probe.check.bounded && probe.offered) break;
    // Skip the grid steps above what the hub acked or processed in this probe, but probe the
    // lowest of them: with less ingest to answer, processing gets more of the CPU.
    const ceiling = Math.min(probe.processed, accepted(probe.result));
    rate = Math.round(rate * 0.9);
    while (Math.round(rate * 0.9) >= ceiling && rate > 10) rate = Math.round(rate * 0.9);
  }
  recordProbes(bench, name, probes);
  const server = await serverLatency(bench.hubUrl);
  const held = await run(bench, rate, SUSTAINED_S, `s5-${rate}`);
  console.log(`  held ${describe(held)}`);
  const every = Math.max(1, Math.round(held.samples.length / 30));
  console.log(
    `  backlog every ${every} s: ${held.samples
      .filter((_, i) => i % every === 0)
      .map((x) => x.backlog)
      .join(' ')}`,
  );
  bench.record(name, 'rate held (target events/s)', rate);
  bench.record(name, 'events/s achieved (acked)', Math.round(accepted(held.result)));
  bench.record(name, 'events/s processed', Math.round(held.processed));
  bench.record(name, 'backlog peak / end', `${held.check.peak} / ${held.check.end}`);
  bench.record(
    name,
    `bounded over ${SUSTAINED_S} s`,
    held.check.bounded && held.offered ? 'yes' : `no: ${describe(held)}`,
  );
  bench.record(
    name,
    'drain after load (s)',
    Number.isNaN(held.drainS) ? 'not within 300 s' : held.drainS.toFixed(1),
  );
  bench.record(
    name,
    'sustained / burst',
    burst > 0 ? `${Math.round((accepted(held.result) / burst) * 100)} %` : 'n/a (no scenario a)',
  );
  bench.record(
    name,
    'ack latency p50 / p99 ms',
    `${held.result.latency.p50} / ${held.result.latency.p99}`,
  );
  await server(bench.record, name, SERVER_INGEST);
  bench.record(name, 'non-2xx / errors', `${held.result.non2xx} / ${held.result.errors}`);
}

function recordProbes(bench: Bench, name: string, probes: Probe[]): void {
  bench.record(
    name,
    'probes (target: bounded?)',
    probes.map((p) => `${p.rate}: ${p.check.bounded && p.offered ? 'yes' : 'no'}`).join('; '),
  );
}

// ---------------------------------------------------------------- ab. hub against reference

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Hub and bare reference in turns, A B A B, each round BENCH_AB_S, on the same machine state:
 * before every round the hub's backlog is drained (its workers would otherwise take CPU from
 * the next round, whichever side it is) and the side about to run is warmed up for 5 s.
 */
export async function abAgainstReference(
  bench: Bench,
  store: { databaseUrl: string; redisUrl: string; redisPrefix: string },
  rounds = 2,
): Promise<void> {
  const name = 'ab. hub vs reference';
  const refPort = await freePort();
  const ref = await startReference(
    store.databaseUrl,
    store.redisUrl,
    `${store.redisPrefix}-ab`,
    refPort,
  );
  const hubUrl = `${bench.hubUrl}/v1/pbx/${bench.tenantId}/events`;
  const refUrl = `http://127.0.0.1:${refPort}/`;
  const json = { 'content-type': 'application/json' };
  const rates = { hub: [] as number[], ref: [] as number[] };
  try {
    for (let i = 0; i < rounds; i++) {
      for (const side of ['hub', 'ref'] as const) {
        const drainS = await drainBacklog(bench.conn);
        const [url, headers] = side === 'hub' ? [hubUrl, bench.headers] : [refUrl, json];
        await ingest(url, headers, `ab${i}${side}w`, { duration: 5 });
        const res = await ingest(url, headers, `ab${i}${side}`, { duration: AB_S });
        rates[side].push(Math.round(accepted(res)));
        console.log(
          `  round ${i + 1} ${side}: ${Math.round(accepted(res))} events/s, ack p50 / p99 ` +
            `${res.latency.p50} / ${res.latency.p99} ms, non-2xx ${res.non2xx} ` +
            `(hub backlog drained in ${drainS.toFixed(1)} s first)`,
        );
      }
    }
  } finally {
    await ref.close();
  }
  const [hub, reference] = [median(rates.hub), median(rates.ref)];
  bench.record(name, 'hub events/s by round', rates.hub.join(' / '));
  bench.record(name, 'reference events/s by round', rates.ref.join(' / '));
  bench.record(name, 'median hub / reference', `${Math.round(hub)} / ${Math.round(reference)}`);
  bench.record(name, 'ratio hub / reference', `${Math.round((hub / reference) * 100)} %`);
}

// ---------------------------------------------------------------- profile

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame; children?: number[] }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface HotFrame {
  frame: string;
  share: number;
  /** The frames that called it, with their share of its self time. */
  callers: { frame: string; share: number }[];
  /** The nearest caller in the hub's own code (src/, connectors/). */
  fromHub: { frame: string; share: number }[];
}

const where = (f: CallFrame): string => {
  const path = f.url.startsWith('file://') ? relative(ROOT, f.url.slice(7)) : f.url;
  return `${f.functionName || '(anonymous)'} ${path || '(native)'}${path ? `:${f.lineNumber + 1}` : ''}`;
};
const isHub = (f: CallFrame): boolean =>
  /\/(src|connectors)\//.test(f.url) && !f.url.includes('node_modules');

function top(shares: Map<string, number>, total: number, n: number) {
  return [...shares]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([frame, t]) => ({ frame, share: t / total }));
}

/** CLOCK_MONOTONIC in µs: the clock of V8's profile timestamps, the same in every process. */
const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

/**
 * Self time by function (time between a sample and the next, as DevTools counts it) of the
 * samples taken inside `window` (µs, CLOCK_MONOTONIC; boot and shutdown left out), the
 * process's idle time left out of the ranking but not out of the total.
 */
export function hottestFrames(
  profile: CpuProfile,
  n = 10,
  window = { from: -Infinity, to: Infinity },
) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
  const self = new Map<string, number>();
  const callers = new Map<string, Map<string, number>>();
  const fromHub = new Map<string, Map<string, number>>();
  const add = (m: Map<string, Map<string, number>>, k: string, c: string, t: number) => {
    const inner = m.get(k) ?? new Map<string, number>();
    inner.set(c, (inner.get(c) ?? 0) + t);
    m.set(k, inner);
  };
  let total = 0;
  let idle = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    at += profile.timeDeltas[i];
    if (at < window.from || at >= window.to) return;
    const t = profile.timeDeltas[i + 1] ?? 0;
    const node = byId.get(id)!;
    total += t;
    if (node.callFrame.functionName === '(idle)') {
      idle += t;
      return;
    }
    const key = where(node.callFrame);
    self.set(key, (self.get(key) ?? 0) + t);
    const up = parent.get(id);
    add(callers, key, up === undefined ? '(root)' : where(byId.get(up)!.callFrame), t);
    let p = up;
    while (p !== undefined && !isHub(byId.get(p)!.callFrame)) p = parent.get(p);
    add(fromHub, key, p === undefined ? '(none)' : where(byId.get(p)!.callFrame), t);
  });
  const frames: HotFrame[] = top(self, total, n).map(({ frame, share }) => ({
    frame,
    share,
    callers: top(callers.get(frame)!, self.get(frame)!, 3),
    fromHub: top(fromHub.get(frame)!, self.get(frame)!, 2),
  }));
  return { frames, idleShare: idle / total, seconds: total / 1e6 };
}

const pct = (x: number): string => `${(x * 100).toFixed(1)} %`;

/**
 * A second hub on the same database and Redis prefix (the bench's own has stopped), run with
 * --cpu-prof under a BENCH_PROFILE_S ingest burst on a tenant of its own; node writes the
 * profile when the process exits, which the hub does through its SIGTERM handler.
 */
export async function profile(
  env: { [name: string]: string },
  record: RecordRow,
  crm: { url: string; apiKey: string },
): Promise<void> {
  const name = 'p. profile';
  const dir = join(__dirname, 'results', 'profiles', new Date().toISOString().replace(/:/g, '-'));
  mkdirSync(dir, { recursive: true });
  const hub = new HubProcess(
    env,
    await freePort(),
    ['--cpu-prof', '--cpu-prof-dir', dir],
    PROFILE_ENTRY,
  );
  await hub.start(120000);
  let acked: number;
  const window = { from: 0, to: 0 };
  try {
    const tenant = (
      await httpRequest(hub.url, 'POST', '/v1/tenants', { body: { name: 'Profile' } })
    ).body as { id: string; apiKey: string };
    const integ = await httpRequest(hub.url, 'POST', `/v1/tenants/${tenant.id}/integrations`, {
      body: {
        connector: 'retailcrm',
        config: { url: crm.url },
        credentials: { apiKey: crm.apiKey },
      },
    });
    await httpRequest(hub.url, 'PUT', `/v1/tenants/${tenant.id}/agents`, {
      body: [{ extension: '101', crmUsers: { [integ.body.id]: '27' } }],
    });
    window.from = monotonicUs();
    const res = await ingest(
      `${hub.url}/v1/pbx/${tenant.id}/events`,
      { 'content-type': 'application/json', 'x-api-key': tenant.apiKey },
      'prof',
      { duration: PROFILE_S },
    );
    window.to = monotonicUs();
    acked = Math.round(accepted(res));
  } finally {
    const t = Date.now();
    await hub.stop();
    console.log(`  profiled hub stopped in ${Date.now() - t} ms, exit code ${await hub.exited(0)}`);
  }
  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) {
    record(name, 'profile', `not written (exit: ${hub.output.join('').slice(-300)})`);
    return;
  }
  const cpu = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
  const hot = hottestFrames(cpu, 10, window);
  console.log(
    `  ${relative(ROOT, join(dir, file))}: ${hot.seconds.toFixed(1)} s sampled, ` +
      `idle ${pct(hot.idleShare)}, ${acked} events/s under the profiler (${PROFILE_ENTRY})`,
  );
  hot.frames.forEach((f, k) => {
    console.log(`  ${String(k + 1).padStart(2)}. ${pct(f.share).padStart(7)}  ${f.frame}`);
    for (const c of f.callers) console.log(`             ${pct(c.share).padStart(7)} ← ${c.frame}`);
    for (const c of f.fromHub) console.log(`             ${pct(c.share).padStart(7)} ⇐ ${c.frame}`);
  });
  record(name, 'events/s under the profiler; idle', `${acked}; ${pct(hot.idleShare)}`);
  hot.frames
    .slice(0, 5)
    .forEach((f, k) => record(name, `#${k + 1} self time`, `${pct(f.share)} ${f.frame}`));
}
