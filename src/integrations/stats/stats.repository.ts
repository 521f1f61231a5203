import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { placeholders, sqlTime } from '../../common/sql';

/** What an inbound call nobody took ended as: the caller was not served. */
const MISSED = "('missed', 'busy', 'cancelled')";
/** Local days and hours are built from UTC quarter hours, which every time zone lines up with. */
export const SLOT_S = 900;

/** What the statistics are grouped by in the database: quarter hours, agents or lines. */
export type Kind = 'slot' | 'agent' | 'line';

export const SUM_FIELDS = [
  'inbound',
  'outbound',
  'answered',
  'missed',
  'wait_sum',
  'wait_n',
  'talk_sum',
  'talk_n',
  'called_back',
] as const;

/** The sums one group's figures are made of; sums of groups are the figures of their union. */
export type Partial = { k: string | null } & Record<(typeof SUM_FIELDS)[number], number>;

/** From `fromS` (seconds since the epoch) on, a zone's clock is `offsetS` ahead of UTC. */
export interface ZoneSpan {
  fromS: number;
  offsetS: number;
}

/** A half-open period [from, to). */
export type Range = readonly [Date, Date];

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
    SELECT 1 FROM calls o FORCE INDEX (ix_calls_client) WHERE o.tenant_id = c.tenant_id AND o.client_number = c.client_number
      AND o.direction = 'outbound' AND o.result = 'answered'
      AND o.started_at > c.started_at AND o.started_at <= c.started_at + INTERVAL 1 DAY)) AS called_back`;

/**
 * The calls of a period, read by their start. Left to itself, MariaDB may read the tenant's
 * whole index (ref on tenant_id alone), which over a year of calls is every row; and for a call
 * back, after many calls were written at once and before its statistics caught up, it looked
 * through all the tenant's calls for each missed one. Both indexes are named for that.
 */
const CALLS = 'calls c FORCE INDEX (ix_calls_started)';

/** The key of a call's quarter hour: quarter hours since the epoch, whatever the session's zone. */
const SLOT_KEY = `TIMESTAMPDIFF(SECOND, '1970-01-01', c.started_at) DIV ${SLOT_S}`;

function periodWhere(tenantId: string, ranges: readonly Range[]) {
  const spans = ranges.map(() => '(c.started_at >= ? AND c.started_at < ?)').join(' OR ');
  return {
    sql: `c.tenant_id = ? AND (${spans}) AND c.direction <> 'internal'`,
    args: [tenantId, ...ranges.flatMap(([a, b]) => [sqlTime(a), sqlTime(b)])],
  };
}

/**
 * The calls of some periods, grouped. `extra` is a column list put before the group key (the
 * day, when summing days). By agent, an answered call counts for whoever answered or made it and
 * a missed one for every agent it rang; by line, the PBX number it came in on or went out from.
 */
function grouped(kind: Kind | null, tenantId: string, ranges: readonly Range[], extra = '') {
  const w = periodWhere(tenantId, ranges);
  const tail = (key: string) =>
    `${extra ? `${extra}, ` : ''}${key} AS k, ${SUMS} FROM ${CALLS} WHERE ${w.sql}`;
  if (kind === null) return { sql: `SELECT ${tail('NULL')}`, args: [...w.args], by: '' };
  if (kind === 'slot') return { sql: `SELECT ${tail(SLOT_KEY)}`, args: [...w.args], by: 'k' };
  if (kind === 'line') {
    return {
      sql: `SELECT ${tail("IF(c.direction = 'outbound', c.from_number, c.to_number)")} AND (IF(c.direction = 'outbound', c.from_number, c.to_number)) IS NOT NULL`,
      args: [...w.args],
      by: 'k',
    };
  }
  return {
    sql: `SELECT ${extra ? `${extra}, ` : ''}k, ${SUMS} FROM (
        SELECT c.*, IF(c.direction = 'inbound', c.answered_by, c.extension) AS k FROM ${CALLS}
         WHERE ${w.sql} AND NOT (c.direction = 'inbound' AND c.result IN ${MISSED})
        UNION ALL
        SELECT c.*, j.ext AS k FROM ${CALLS},
          JSON_TABLE(c.ringing, '$[*]' COLUMNS (ext VARCHAR(32) PATH '$')) j
         WHERE ${w.sql} AND c.direction = 'inbound' AND c.result IN ${MISSED}
      ) c WHERE k IS NOT NULL`,
    args: [...w.args, ...w.args],
    by: 'k',
  };
}

/** The UTC day (YYYY-MM-DD) a DATE column names, as the driver returns it. */
export function dayColumn(v: Date | string): string {
  return typeof v === 'string' ? v.slice(0, 10) : v.toISOString().slice(0, 10);
}

export const DAY_MS = 86_400_000;
/** Rollup rows per INSERT. */
const INSERT_ROWS = 500;

export const dayStart = (day: string): Date => new Date(`${day}T00:00:00Z`);
export const nextDay = (day: string): string =>
  new Date(dayStart(day).getTime() + DAY_MS).toISOString().slice(0, 10);

/** Whole UTC days as periods, consecutive days merged into one. */
export function dayRanges(days: readonly string[]): Range[] {
  const out: [Date, Date][] = [];
  for (const day of [...days].sort()) {
    const from = dayStart(day);
    const last = out[out.length - 1];
    if (last && last[1].getTime() === from.getTime()) last[1] = new Date(from.getTime() + DAY_MS);
    else out.push([from, new Date(from.getTime() + DAY_MS)]);
  }
  return out;
}

/** The summing state of a tenant: days before `builtUntil` are summed, except the dirty ones. */
export interface RollupState {
  builtUntil: string | null;
  dirty: Map<string, number>;
}

@Injectable()
export class StatsRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  /** The calls of the periods summed by `kind` (null: one row for all), straight from `calls`. */
  async fromCalls(
    tenantId: string,
    kind: Kind | null,
    ranges: readonly Range[],
  ): Promise<Partial[]> {
    if (ranges.length === 0) return [];
    const q = grouped(kind, tenantId, ranges);
    return (await this.db.query(q.by ? `${q.sql} GROUP BY ${q.by}` : q.sql, q.args)) as Partial[];
  }

  /**
   * The sums of the days [fromDay, toDay) but `except`, summed by `kind` (null: one row for all
   * quarter hours, the totals).
   */
  async fromRollups(
    tenantId: string,
    kind: Kind | null,
    fromDay: string,
    toDay: string,
    except: readonly string[],
  ): Promise<Partial[]> {
    const sums = SUM_FIELDS.map((f) => `SUM(${f}) AS ${f}`).join(', ');
    const not = except.length ? `AND day NOT IN (${placeholders(except.length)})` : '';
    return (await this.db.query(
      `SELECT ${kind === null ? 'NULL' : 'k'} AS k, ${sums} FROM call_stats_rollups
        WHERE tenant_id = ? AND kind = ? AND day >= ? AND day < ? ${not}
        ${kind === null ? '' : 'GROUP BY k'}`,
      [tenantId, kind ?? 'slot', fromDay, toDay, ...except],
    )) as Partial[];
  }

  /**
   * The quarter-hour sums of the days [fromDay, toDay) but `except`, grouped by local day or hour
   * (`unitS` 86400 or 3600): each quarter hour is moved by the offset of the zone span it is in.
   * The key is the local unit's number since the epoch.
   */
  async fromRollupsLocal(
    tenantId: string,
    unitS: number,
    spans: readonly ZoneSpan[],
    fromDay: string,
    toDay: string,
    except: readonly string[],
  ): Promise<Partial[]> {
    const sums = SUM_FIELDS.map((f) => `SUM(${f}) AS ${f}`).join(', ');
    const not = except.length ? `AND day NOT IN (${placeholders(except.length)})` : '';
    // The offset of the span each quarter hour begins in (the spans are in time order).
    const later = spans.slice(1);
    const offset = later.length
      ? `CASE ${later.map(() => 'WHEN q < ? THEN ?').join(' ')} ELSE ? END`
      : '?';
    const offsetArgs = [
      ...later.flatMap((span, i) => [span.fromS, spans[i].offsetS]),
      spans[spans.length - 1]?.offsetS ?? 0,
    ];
    return (await this.db.query(
      `SELECT (q + ${offset}) DIV ? AS k, ${sums} FROM (
         SELECT CAST(k AS UNSIGNED) * ${SLOT_S} AS q, r.* FROM call_stats_rollups r
          WHERE tenant_id = ? AND kind = 'slot' AND day >= ? AND day < ? ${not}
       ) s GROUP BY 1`,
      [...offsetArgs, unitS, tenantId, fromDay, toDay, ...except],
    )) as Partial[];
  }

  async state(tenantId: string): Promise<RollupState> {
    const [built] = (await this.db.query(
      'SELECT built_until FROM call_stats_builds WHERE tenant_id = ?',
      [tenantId],
    )) as { built_until: Date | string }[];
    const dirty = (await this.db.query(
      'SELECT day, gen FROM call_stats_dirty WHERE tenant_id = ? ORDER BY day',
      [tenantId],
    )) as { day: Date | string; gen: number }[];
    return {
      builtUntil: built ? dayColumn(built.built_until) : null,
      dirty: new Map(dirty.map((d) => [dayColumn(d.day), Number(d.gen)])),
    };
  }

  /** The UTC day of the tenant's first call, or null without calls. */
  async firstDay(tenantId: string): Promise<string | null> {
    const [row] = (await this.db.query(
      'SELECT DATE(MIN(started_at)) AS d FROM calls WHERE tenant_id = ?',
      [tenantId],
    )) as { d: Date | string | null }[];
    return row?.d ? dayColumn(row.d) : null;
  }

  /** The first day not summed yet by the database's clock: the days before it ended 2+ days ago. */
  async horizon(): Promise<string> {
    const [row] = (await this.db.query('SELECT DATE(UTC_TIMESTAMP() - INTERVAL 2 DAY) AS d')) as {
      d: Date | string;
    }[];
    return dayColumn(row.d);
  }

  /**
   * Sums the days (each [day, day + 1)) again from the calls in one transaction, moves
   * built_until to `builtUntil` when it is later, and clears each day's dirty mark if it is
   * still the one seen before (a call written meanwhile leaves its mark for the next round).
   */
  async rebuild(
    tenantId: string,
    days: readonly string[],
    seen: ReadonlyMap<string, number>,
    builtUntil: string | null,
  ): Promise<void> {
    // Read first, without locks: a locking read (INSERT … SELECT) would hold up writes of calls.
    const sums: { kind: Kind; rows: (Partial & { day: Date | string })[] }[] = [];
    if (days.length) {
      for (const kind of ['slot', 'agent', 'line'] as const) {
        const q = grouped(kind, tenantId, dayRanges(days), 'DATE(c.started_at) AS day');
        sums.push({ kind, rows: await this.db.query(`${q.sql} GROUP BY day, k`, q.args) });
      }
    }
    await this.db.transaction(async (tx) => {
      if (days.length) {
        await tx.query(
          `DELETE FROM call_stats_rollups WHERE tenant_id = ? AND day IN (${placeholders(days.length)})`,
          [tenantId, ...days],
        );
      }
      for (const { kind, rows } of sums) {
        for (let i = 0; i < rows.length; i += INSERT_ROWS) {
          const chunk = rows.slice(i, i + INSERT_ROWS);
          await tx.query(
            `INSERT INTO call_stats_rollups (tenant_id, kind, day, k, ${SUM_FIELDS.join(', ')})
             VALUES ${chunk.map(() => `(?, ?, ?, ?, ${placeholders(SUM_FIELDS.length)})`).join(', ')}`,
            chunk.flatMap((r) => [
              tenantId,
              kind,
              dayColumn(r.day),
              String(r.k),
              ...SUM_FIELDS.map((f) => Number(r[f] ?? 0)),
            ]),
          );
        }
      }
      if (builtUntil) {
        await tx.query(
          `INSERT INTO call_stats_builds (tenant_id, built_until) VALUES (?, ?)
           ON DUPLICATE KEY UPDATE built_until = GREATEST(built_until, VALUES(built_until))`,
          [tenantId, builtUntil],
        );
      }
      for (const day of days) {
        const gen = seen.get(day);
        if (gen === undefined) continue;
        await tx.query('DELETE FROM call_stats_dirty WHERE tenant_id = ? AND day = ? AND gen = ?', [
          tenantId,
          day,
          gen,
        ]);
      }
    });
  }

  /** Every tenant that is not being deleted (one without calls costs one MIN lookup). */
  async tenants(): Promise<string[]> {
    const rows = (await this.db.query(
      'SELECT id FROM tenants WHERE deleted_at IS NULL ORDER BY id',
    )) as { id: string }[];
    return rows.map((r) => r.id);
  }
}
