/**
 * Scenario s: GET …/stats over 1,000,000 calls of one tenant spread over the last year, as a
 * console user reads them (one request at a time): every grouping over today, 7, 30 and 365
 * days with ragged edges. The calls are written straight into the database (MariaDB's
 * SEQUENCE engine), then the hub sums the days past and the requests are timed.
 */
import { Connection } from 'mysql2/promise';
import { httpRequest } from '../test/support/test-app';

const CALLS = Number(process.env.BENCH_STATS_CALLS ?? 1_000_000);
const CHUNK = 100_000;
const YEAR_S = 365 * 86_400;
const GROUPS = ['agent', 'line', 'day', 'hour'] as const;
const PERIOD_DAYS = [1, 7, 30, 365];
/** Requests per grouping and period. */
const ROUNDS = Number(process.env.BENCH_STATS_ROUNDS ?? 50);

export interface StatsFigures {
  calls: number;
  seedS: number;
  sumS: number;
  /** Per shape (`groupBy` × days): p50 / p95 ms. */
  shapes: { shape: string; p50: number; p95: number }[];
  p50: number;
  p95: number;
  requests: number;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/**
 * Deterministic calls from a sequence number: 60 % inbound (75 % answered, 20 % missed,
 * 5 % busy), 30 % outbound, 10 % internal; 30 agents, 5 lines, 50,000 clients.
 */
function seedSql(from: number, to: number): string {
  return `
    INSERT INTO calls (tenant_id, call_id, direction, status, result, from_number, to_number,
      extension, answered_by, ringing, duration, started_at, answered_at, ended_at)
    SELECT ?, CONCAT('bs-', seq), dir, 'ended', res,
      CASE dir WHEN 'inbound' THEN client WHEN 'outbound' THEN line ELSE agent END,
      CASE dir WHEN 'inbound' THEN line WHEN 'outbound' THEN client ELSE '199' END,
      IF(dir = 'inbound', NULL, agent),
      IF(dir = 'inbound' AND res = 'answered', agent, NULL),
      IF(dir = 'inbound', IF(h % 3 = 0, JSON_ARRAY(agent, agent2), JSON_ARRAY(agent)), JSON_ARRAY()),
      IF(res = 'answered', (h DIV 3) % 600, 0),
      started,
      IF(res = 'answered', started + INTERVAL (h % 40) SECOND, NULL),
      started + INTERVAL 700 SECOND
    FROM (
      SELECT seq, h, dir, started, client, line, agent, agent2,
        CASE
          WHEN dir = 'inbound' THEN ELT((h DIV 7) % 20 + 1,
            'answered','answered','answered','answered','answered','answered','answered','answered',
            'answered','answered','answered','answered','answered','answered','answered',
            'missed','missed','missed','missed','busy')
          WHEN dir = 'outbound' THEN IF((h DIV 7) % 10 < 7, 'answered', 'missed')
          ELSE 'answered'
        END AS res
      FROM (
        SELECT seq, h,
          CASE WHEN h % 10 < 6 THEN 'inbound' WHEN h % 10 < 9 THEN 'outbound' ELSE 'internal' END AS dir,
          UTC_TIMESTAMP(3) - INTERVAL ROUND(seq * ${YEAR_S / CALLS} + h % 30) SECOND AS started,
          CONCAT('+7916', LPAD((h DIV 10) % 50000, 7, '0')) AS client,
          ELT((h DIV 16) % 5 + 1, '+74951110000', '+74951110001', '+74951110002',
            '+74951110003', '+74951110004') AS line,
          CONCAT('1', LPAD((h DIV 500000) % 30 + 1, 2, '0')) AS agent,
          CONCAT('1', LPAD((h DIV 900000) % 30 + 1, 2, '0')) AS agent2
        FROM (SELECT seq, CRC32(seq) AS h FROM seq_${from}_to_${to}) s
      ) a
    ) b`;
}

/** Seeds the calls, waits for the hub to sum them, and times the statistics requests. */
export async function statsScenario(
  hubUrl: string,
  conn: Connection,
  log: (line: string) => void,
): Promise<StatsFigures> {
  const tenant = (
    await httpRequest(hubUrl, 'POST', '/v1/tenants', {
      body: { name: 'Bench stats', timezone: 'Europe/Moscow' },
    })
  ).body as { id: string; apiKey: string };
  const t0 = Date.now();
  for (let i = 1; i <= CALLS; i += CHUNK) {
    await conn.query(seedSql(i, Math.min(CALLS, i + CHUNK - 1)), [tenant.id]);
    log(`  seeded ${Math.min(CALLS, i + CHUNK - 1)} calls`);
  }
  const seedS = (Date.now() - t0) / 1000;
  const t1 = Date.now();
  for (;;) {
    const [[row]] = (await conn.query(
      `SELECT (SELECT built_until FROM call_stats_builds WHERE tenant_id = ?) = DATE(UTC_TIMESTAMP() - INTERVAL 2 DAY) AS built,
              (SELECT COUNT(*) FROM call_stats_dirty d JOIN call_stats_builds b USING (tenant_id)
                 WHERE d.tenant_id = ? AND d.day < b.built_until) AS dirty`,
      [tenant.id, tenant.id],
    )) as unknown as [{ built: number | null; dirty: number }[]];
    if (Number(row.built) === 1 && Number(row.dirty) === 0) break;
    if (Date.now() - t1 > 600_000) throw new Error('the statistics were not summed in 10 min');
    await new Promise((r) => setTimeout(r, 500));
  }
  const sumS = (Date.now() - t1) / 1000;
  const headers = { 'x-api-key': tenant.apiKey };
  const all: number[] = [];
  const shapes: StatsFigures['shapes'] = [];
  const now = Date.now();
  for (const days of PERIOD_DAYS) {
    for (const groupBy of GROUPS) {
      const times: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        // Ragged edges, moved each round, so no answer is the previous one.
        const to = new Date(now - i * 37_000);
        const from = new Date(to.getTime() - days * 86_400_000 + 11 * 60_000);
        const path = `/v1/tenants/${tenant.id}/stats?from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}&groupBy=${groupBy}`;
        const began = performance.now();
        const res = await httpRequest(hubUrl, 'GET', path, { headers });
        times.push(performance.now() - began);
        if (res.status !== 200) throw new Error(`stats: ${res.status} ${res.text}`);
      }
      all.push(...times);
      shapes.push({
        shape: `${groupBy} × ${days} d`,
        p50: percentile(times, 50),
        p95: percentile(times, 95),
      });
    }
  }
  return {
    calls: CALLS,
    seedS,
    sumS,
    shapes,
    p50: percentile(all, 50),
    p95: percentile(all, 95),
    requests: all.length,
  };
}
