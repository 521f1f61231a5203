import { BadRequestException, Injectable } from '@nestjs/common';
import { TenantsService } from '../../tenants/tenants.service';
import { AgentsService } from '../agents.service';
import { StatsFigures, StatsQueryDto, StatsRow, StatsView } from './stats.dto';
import {
  DAY_MS,
  dayRanges,
  dayStart,
  Kind,
  Partial,
  Range,
  RollupState,
  SLOT_S,
  StatsRepository,
  SUM_FIELDS,
  ZoneSpan,
} from './stats.repository';

const MAX_PERIOD_MS = 366 * DAY_MS;

/**
 * Which part of a period is read from the daily sums and which from the calls: whole UTC days
 * that are summed and not dirty come from the sums, the rest (the edges of the period, recent
 * days, days whose calls changed since) from the calls.
 */
export function planPeriod(from: Date, to: Date, state: RollupState) {
  const ceilDay = new Date(Math.ceil(from.getTime() / DAY_MS) * DAY_MS).toISOString().slice(0, 10);
  const floorDay = new Date(Math.floor(to.getTime() / DAY_MS) * DAY_MS).toISOString().slice(0, 10);
  const until =
    state.builtUntil !== null && state.builtUntil < floorDay ? state.builtUntil : floorDay;
  if (state.builtUntil === null || ceilDay >= until) {
    return { summed: null, calls: [[from, to]] as Range[] };
  }
  const except = [...state.dirty.keys()].filter((d) => d >= ceilDay && d < until);
  const calls: Range[] = [];
  const add = (a: Date, b: Date) => {
    if (a >= b) return;
    const last = calls[calls.length - 1];
    if (last && last[1].getTime() === a.getTime()) calls[calls.length - 1] = [last[0], b];
    else calls.push([a, b]);
  };
  add(from, dayStart(ceilDay));
  for (const [a, b] of dayRanges(except)) add(a, b);
  add(dayStart(until), to);
  return { summed: { fromDay: ceilDay, toDay: until, except }, calls };
}

/**
 * Call statistics of a period, computed in the database: per agent, per line, per local day or
 * hour. Internal calls are left out. By agent, an answered call counts for whoever answered or
 * made it and a missed one for every agent it rang; totals count each call once.
 */
@Injectable()
export class StatsService {
  constructor(
    private readonly repo: StatsRepository,
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
    const plan = planPeriod(from, to, await this.repo.state(tenantId));
    const read = async (kind: Kind | null): Promise<Partial[]> => {
      const [summed, counted] = await Promise.all([
        plan.summed
          ? this.repo.fromRollups(
              tenantId,
              kind,
              plan.summed.fromDay,
              plan.summed.toDay,
              plan.summed.except,
            )
          : [],
        this.repo.fromCalls(tenantId, kind, plan.calls),
      ]);
      return merge([...summed, ...counted]);
    };
    let rows: StatsRow[];
    let totals: Partial;
    if (groupBy === 'agent' || groupBy === 'line') {
      const [partials, all] = await Promise.all([read(groupBy), read(null)]);
      totals = merge(all.map((p) => ({ ...p, k: null })))[0] ?? emptyPartial();
      if (groupBy === 'agent') {
        const names = new Map(
          (await this.agents.list(tenantId)).map((a) => [a.extension, a.name] as const),
        );
        rows = partials.map((p) => {
          const row = figures(p, String(p.k));
          const name = names.get(String(p.k));
          return name ? { ...row, name } : row;
        });
      } else {
        rows = partials.map((p) => figures(p, String(p.k)));
      }
    } else {
      const partials = await this.localTime(tenantId, plan, groupBy, tenant.timezone, from, to);
      rows = partials.map((p) => figures(p, String(p.k)));
      totals = merge(partials.map((p) => ({ ...p, k: null })))[0] ?? emptyPartial();
    }
    return {
      from: from.toISOString(),
      to: to.toISOString(),
      groupBy,
      rows,
      totals: stripKey(figures(totals, '')),
    };
  }

  /**
   * By the tenant's local day or hour. The sums are grouped in the database, each quarter hour
   * moved by the zone's offset of its time; the calls outside them are read per quarter hour.
   */
  private async localTime(
    tenantId: string,
    plan: ReturnType<typeof planPeriod>,
    unit: 'day' | 'hour',
    timeZone: string,
    from: Date,
    to: Date,
  ): Promise<Partial[]> {
    const keyOf = (ms: number) => new Date(ms).toISOString().slice(0, unit === 'day' ? 10 : 13);
    const unitMs = unit === 'day' ? DAY_MS : 3_600_000;
    const [summed, slots] = await Promise.all([
      plan.summed
        ? this.repo.fromRollupsLocal(
            tenantId,
            unitMs / 1000,
            zoneOffsets(timeZone, from.getTime(), to.getTime()),
            plan.summed.fromDay,
            plan.summed.toDay,
            plan.summed.except,
          )
        : [],
      this.repo.fromCalls(tenantId, 'slot', plan.calls),
    ]);
    const localHour = localHours(timeZone);
    const partials = [
      ...summed.map((p) => ({ ...p, k: keyOf(Number(p.k) * unitMs) })),
      ...slots
        .sort((a, b) => Number(a.k) - Number(b.k))
        .map((p) => ({
          ...p,
          k: localHour(Number(p.k) * SLOT_S * 1000).slice(0, unit === 'day' ? 10 : 13),
        })),
    ];
    return merge(partials);
  }
}

/** Partials with the same key added up, in key order. */
function merge(partials: Partial[]): Partial[] {
  const by = new Map<string | null, Partial>();
  for (const p of partials) {
    const k = p.k === null ? null : String(p.k);
    const into = by.get(k) ?? { ...emptyPartial(), k };
    for (const f of SUM_FIELDS) into[f] = Number(into[f]) + Number(p[f] ?? 0);
    by.set(k, into);
  }
  return [...by.values()].sort((a, b) => compareKeys(a.k, b.k));
}

function compareKeys(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return a < b ? -1 : 1;
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

/** How far a zone's wall clock is ahead of UTC at an instant, in ms. */
function offsetReader(timeZone: string): (ms: number) => number {
  const format = new Intl.DateTimeFormat('en-CA', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  return (ms) => {
    const at = Math.floor(ms / 1000) * 1000;
    const n = Object.fromEntries(
      format.formatToParts(new Date(at)).map((x) => [x.type, Number(x.value)] as const),
    );
    return Date.UTC(n.year, n.month - 1, n.day, n.hour, n.minute, n.second) - at;
  };
}

/**
 * The local hour (YYYY-MM-DDTHH) of instants in a zone, for instants in ascending order. A
 * zone's offset is read twice per UTC day (its first and last second); only a day whose
 * offset changes (a clock change) is read quarter hour by quarter hour.
 */
export function localHours(timeZone: string): (ms: number) => string {
  const offsetAt = offsetReader(timeZone);
  let span = { from: 0, to: 0, offset: 0 };
  return (ms) => {
    if (ms < span.from || ms >= span.to) {
      const day = Math.floor(ms / DAY_MS) * DAY_MS;
      const first = offsetAt(day);
      span =
        first === offsetAt(day + DAY_MS - 1000)
          ? { from: day, to: day + DAY_MS, offset: first }
          : { from: ms, to: ms + SLOT_S * 1000, offset: offsetAt(ms) };
    }
    return new Date(ms + span.offset).toISOString().slice(0, 13);
  };
}

/**
 * A zone's offsets over [fromMs, toMs): spans of quarter hours with one offset each (seconds
 * since the epoch where the span begins, the offset in seconds), found as localHours finds them.
 */
export function zoneOffsets(timeZone: string, fromMs: number, toMs: number): ZoneSpan[] {
  const offsetAt = offsetReader(timeZone);
  const spans: ZoneSpan[] = [];
  const add = (atMs: number, offsetMs: number) => {
    const last = spans[spans.length - 1];
    if (!last || last.offsetS !== offsetMs / 1000) {
      spans.push({ fromS: atMs / 1000, offsetS: offsetMs / 1000 });
    }
  };
  for (let day = Math.floor(fromMs / DAY_MS) * DAY_MS; day < toMs; day += DAY_MS) {
    const first = offsetAt(day);
    add(day, first);
    if (first === offsetAt(day + DAY_MS - 1000)) continue;
    for (let q = day + SLOT_S * 1000; q < day + DAY_MS; q += SLOT_S * 1000) add(q, offsetAt(q));
  }
  return spans;
}
