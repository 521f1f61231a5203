import { BadRequestException, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { sqlTime } from '../../common/sql';
import { TenantsService } from '../../tenants/tenants.service';
import { AgentsService } from '../agents.service';
import { StatsFigures, StatsGroup, StatsQueryDto, StatsRow, StatsView } from './stats.dto';

/** What an inbound call nobody took ended as: the caller was not served. */
const MISSED = "('missed', 'busy', 'cancelled')";
const MAX_PERIOD_MS = 366 * 86_400_000;
/** Local days and hours are built from UTC quarter hours, which every time zone lines up with. */
const SLOT_S = 900;

/** The sums one group's figures are made of; sums of groups are the figures of their union. */
interface Partial {
  k: string | null;
  inbound: number;
  outbound: number;
  answered: number;
  missed: number;
  wait_sum: number;
  wait_n: number;
  talk_sum: number;
  talk_n: number;
  called_back: number;
}

const SUMS = `
  SUM(direction = 'inbound') AS inbound,
  SUM(direction = 'outbound') AS outbound,
  SUM(direction = 'inbound' AND result = 'answered') AS answered,
  SUM(direction = 'inbound' AND result IN ${MISSED}) AS missed,
  SUM(IF(direction = 'inbound' AND result = 'answered' AND answered_at IS NOT NULL,
         TIMESTAMPDIFF(MICROSECOND, started_at, answered_at) / 1e6, 0)) AS wait_sum,
  SUM(direction = 'inbound' AND result = 'answered' AND answered_at IS NOT NULL) AS wait_n,
  SUM(IF(result = 'answered', COALESCE(duration, 0), 0)) AS talk_sum,
  SUM(result = 'answered') AS talk_n,
  SUM(direction = 'inbound' AND result IN ${MISSED} AND EXISTS (
    SELECT 1 FROM calls o WHERE o.tenant_id = c.tenant_id AND o.client_number = c.client_number
      AND o.direction = 'outbound' AND o.result = 'answered'
      AND o.started_at > c.started_at AND o.started_at <= c.started_at + INTERVAL 1 DAY)) AS called_back`;

/**
 * Call statistics of a period, computed in the database: per agent, per line, per local day or
 * hour. Internal calls are left out. By agent, an answered call counts for whoever answered or
 * made it and a missed one for every agent it rang; totals count each call once.
 */
@Injectable()
export class StatsService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly tenants: TenantsService,
    private readonly agents: AgentsService,
  ) {}

  async stats(tenantId: string, q: StatsQueryDto): Promise<StatsView> {
    const tenant = await this.tenants.get(tenantId);
    const from = new Date(q.from);
    const to = new Date(q.to);
    if (to <= from) throw new BadRequestException('to must be later than from');
    if (to.getTime() - from.getTime() > MAX_PERIOD_MS)
      throw new BadRequestException('the period from–to must be at most 366 days');
    const groupBy = q.groupBy ?? 'day';
    const args = [tenantId, sqlTime(from), sqlTime(to)];
    const where = `c.tenant_id = ? AND c.started_at >= ? AND c.started_at < ? AND c.direction <> 'internal'`;
    const [totals] = (await this.db.query(
      `SELECT NULL AS k, ${SUMS} FROM calls c WHERE ${where}`,
      args,
    )) as Partial[];
    let rows: StatsRow[];
    if (groupBy === 'agent') {
      const partials = (await this.db.query(
        `SELECT k, ${SUMS} FROM (
           SELECT c.*, IF(c.direction = 'inbound', c.answered_by, c.extension) AS k FROM calls c
            WHERE ${where} AND NOT (c.direction = 'inbound' AND c.result IN ${MISSED})
           UNION ALL
           SELECT c.*, j.ext AS k FROM calls c,
             JSON_TABLE(c.ringing, '$[*]' COLUMNS (ext VARCHAR(32) PATH '$')) j
            WHERE ${where} AND c.direction = 'inbound' AND c.result IN ${MISSED}
         ) c WHERE k IS NOT NULL GROUP BY k ORDER BY k`,
        [...args, ...args],
      )) as Partial[];
      const names = new Map(
        (await this.agents.list(tenantId)).map((a) => [a.extension, a.name] as const),
      );
      rows = partials.map((p) => {
        const row = figures(p, String(p.k));
        const name = names.get(String(p.k));
        return name ? { ...row, name } : row;
      });
    } else if (groupBy === 'line') {
      const partials = (await this.db.query(
        `SELECT IF(c.direction = 'outbound', c.from_number, c.to_number) AS k, ${SUMS}
           FROM calls c WHERE ${where} GROUP BY k ORDER BY k`,
        args,
      )) as Partial[];
      rows = partials.filter((p) => p.k !== null).map((p) => figures(p, String(p.k)));
    } else {
      const partials = (await this.db.query(
        `SELECT FLOOR(UNIX_TIMESTAMP(c.started_at) / ${SLOT_S}) AS k, ${SUMS}
           FROM calls c WHERE ${where} GROUP BY k ORDER BY k`,
        args,
      )) as Partial[];
      rows = byLocalTime(partials, groupBy, tenant.timezone);
    }
    return {
      from: from.toISOString(),
      to: to.toISOString(),
      groupBy,
      rows,
      totals: stripKey(figures(totals ?? emptyPartial(), '')),
    };
  }
}

function emptyPartial(): Partial {
  return {
    k: null,
    inbound: 0,
    outbound: 0,
    answered: 0,
    missed: 0,
    wait_sum: 0,
    wait_n: 0,
    talk_sum: 0,
    talk_n: 0,
    called_back: 0,
  };
}

const round1 = (n: number) => Math.round(n * 10) / 10;

function figures(p: Partial, key: string): StatsRow {
  const n = (v: unknown) => Number(v ?? 0);
  const inbound = n(p.inbound);
  const answered = n(p.answered);
  return {
    key,
    inbound,
    outbound: n(p.outbound),
    answered,
    missed: n(p.missed),
    answerRate: inbound ? Math.round((answered / inbound) * 1000) / 1000 : null,
    avgWaitS: n(p.wait_n) ? round1(n(p.wait_sum) / n(p.wait_n)) : null,
    avgTalkS: n(p.talk_n) ? round1(n(p.talk_sum) / n(p.talk_n)) : null,
    talkS: n(p.talk_sum),
    calledBack: n(p.called_back),
  };
}

function stripKey(row: StatsRow): StatsFigures {
  const { key: _key, name: _name, ...rest } = row;
  return rest;
}

/** Quarter-hour partials merged into the tenant's local days or hours. */
function byLocalTime(partials: Partial[], groupBy: StatsGroup, timeZone: string): StatsRow[] {
  const format = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
  });
  const merged = new Map<string, Partial>();
  for (const p of partials) {
    const parts = format.formatToParts(new Date(Number(p.k) * SLOT_S * 1000));
    const get = (t: string) => parts.find((x) => x.type === t)?.value ?? '00';
    const day = `${get('year')}-${get('month')}-${get('day')}`;
    const key = groupBy === 'day' ? day : `${day}T${get('hour')}`;
    const into = merged.get(key) ?? emptyPartial();
    for (const f of [
      'inbound',
      'outbound',
      'answered',
      'missed',
      'wait_sum',
      'wait_n',
      'talk_sum',
      'talk_n',
      'called_back',
    ] as const) {
      into[f] = Number(into[f]) + Number(p[f] ?? 0);
    }
    merged.set(key, into);
  }
  return [...merged.entries()].map(([key, p]) => figures(p, key));
}
