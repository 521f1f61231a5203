/**
 * The hub's processing backlog as the benchmark reads it from the database, sampled while a
 * load runs, and the test of whether it stayed bounded.
 */
import type { Connection } from 'mysql2/promise';

/** One reading: seconds since the sampler started, and the backlog then. */
export interface BacklogSample {
  t: number;
  backlog: number;
}

/**
 * Work the hub has accepted and not yet done: events stored but not applied to their call,
 * plus CRM actions that are due (no not_before, or one passed) and still pending. The hub
 * writes DATETIMEs in UTC (the pool's timezone is 'Z'), hence UTC_TIMESTAMP.
 */
export async function readBacklog(conn: Connection): Promise<number> {
  const [[row]] = (await conn.query(
    `SELECT (SELECT COUNT(*) FROM call_events WHERE processed_at IS NULL)
          + (SELECT COUNT(*) FROM call_sync WHERE status = 'pending'
               AND (not_before IS NULL OR not_before <= UTC_TIMESTAMP(3))) AS n`,
  )) as unknown as [{ n: string | number }[]];
  return Number(row.n);
}

/**
 * Reads the backlog every `everyMs` until stopped (a slow read delays the next, never
 * overlaps); stopping takes one last reading at once, so the last sample is the backlog at the
 * moment the load ended.
 */
export function sampleBacklog(conn: Connection, everyMs = 1000) {
  const samples: BacklogSample[] = [];
  const began = Date.now();
  const read = async () =>
    samples.push({ t: (Date.now() - began) / 1000, backlog: await readBacklog(conn) });
  let running = true;
  let wake = () => {};
  const loop = (async () => {
    for (let next = began; running;) {
      await read();
      next += everyMs;
      await new Promise<void>((r) => {
        const timer = setTimeout(r, Math.max(0, next - Date.now()));
        wake = () => {
          clearTimeout(timer);
          r();
        };
      });
    }
  })();
  return {
    samples,
    stop: async (): Promise<BacklogSample[]> => {
      running = false;
      wake();
      await loop;
      await read();
      return samples;
    },
  };
}

/** Waits until the backlog is empty; the seconds it took, or NaN past the timeout. */
export async function drainBacklog(conn: Connection, timeoutMs = 300000): Promise<number> {
  const t0 = Date.now();
  while ((await readBacklog(conn)) > 0) {
    if (Date.now() - t0 > timeoutMs) return NaN;
    await new Promise((r) => setTimeout(r, 250));
  }
  return (Date.now() - t0) / 1000;
}

/** Least-squares slope of the backlog over time (per second) and its standard error. */
export function slope(samples: BacklogSample[]): { slope: number; se: number } {
  const n = samples.length;
  if (n < 2) return { slope: 0, se: Infinity };
  const mt = samples.reduce((s, x) => s + x.t, 0) / n;
  const mb = samples.reduce((s, x) => s + x.backlog, 0) / n;
  const num = samples.reduce((s, x) => s + (x.t - mt) * (x.backlog - mb), 0);
  const den = samples.reduce((s, x) => s + (x.t - mt) ** 2, 0);
  if (den === 0) return { slope: 0, se: Infinity };
  const b = num / den;
  const residuals = samples.reduce((s, x) => s + (x.backlog - mb - b * (x.t - mt)) ** 2, 0);
  return { slope: b, se: n > 2 ? Math.sqrt(residuals / (n - 2) / den) : Infinity };
}

export interface Boundedness {
  bounded: boolean;
  peak: number;
  end: number;
  /** The rise of the trend line over the last third, in seconds of input. */
  riseS: number;
  why: string;
}

/**
 * Bounded at `rate` events/s means both:
 *  - the backlog at the end of the load is at most END_SECONDS × rate (two seconds of input:
 *    a hub that keeps up holds at most that much in flight), and
 *  - it is not growing over the last third of the run. Growing means that the least-squares
 *    line through the samples of the last third rises over that third by more than
 *    RISE_SECONDS × rate and by more than three standard errors of that rise. A line, not the
 *    first and last sample, and the error bar, because the hub works in batches: one sample
 *    may catch a batch in flight, and on a short probe the backlog swings by more than half a
 *    second of input. On the 300 s run the test catches a shortfall of 0.5 % of the rate.
 * A backlog that rises while the run warms up and then stays flat passes; one that climbs
 * steadily fails, however low it started.
 */
export const END_SECONDS = 2;
export const RISE_SECONDS = 0.5;

export function boundedness(samples: BacklogSample[], rate: number): Boundedness {
  const peak = Math.max(0, ...samples.map((s) => s.backlog));
  const end = samples.at(-1)?.backlog ?? 0;
  const last = samples.slice(Math.floor((samples.length * 2) / 3));
  const span = last.length > 1 ? last[last.length - 1].t - last[0].t : 0;
  const line = slope(last);
  const riseS = (line.slope * span) / rate;
  const noiseS = (3 * line.se * span) / rate;
  const reasons: string[] = [];
  if (end > END_SECONDS * rate) reasons.push(`end ${end} > ${END_SECONDS} s of input`);
  if (riseS > RISE_SECONDS && riseS > noiseS)
    reasons.push(`growing ${riseS.toFixed(2)} s of input in the last third`);
  return { bounded: reasons.length === 0, peak, end, riseS, why: reasons.join(', ') || 'ok' };
}
