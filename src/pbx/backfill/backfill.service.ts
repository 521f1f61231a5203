import { randomUUID } from 'node:crypto';
import {
  BadRequestException,
  HttpException,
  Injectable,
  Logger,
  NotFoundException,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { NormalizedEvent } from '../../calls/call-event';
import { IngestService } from '../../calls/ingest.service';
import { Clock } from '../../common/clock';
import { Lifecycle } from '../../common/lifecycle';
import { sqlTime } from '../../common/sql';
import { validateDto } from '../../common/validation';
import { TenantsService } from '../../tenants/tenants.service';
import { PbxAdapters } from '../pbx-adapters';
import { PbxSourcesService } from '../pbx-sources.service';
import { BackfillDto, BackfillStatus, BackfillView } from './backfill.dto';

interface BackfillRow {
  id: string;
  tenant_id: string;
  source_id: string;
  from_at: Date;
  to_at: Date;
  status: BackfillStatus;
  seen: number;
  imported: number;
  known: number;
  error: string | null;
  attempts: number;
}

/** The longest period one backfill imports (Zadarma's statistics allow a month per query). */
const MAX_PERIOD_MS = 31 * 86_400_000;
/** Calls stored per ingest request. */
const CALLS_PER_BATCH = 200;
/** Tries before a backfill is failed; a failed try waits 5 s, 10 s, 20 s, … before the next. */
const MAX_ATTEMPTS = 5;
/** How long a claim holds: longer than any run; a claim whose instance died lapses after it. */
const CLAIM_MS = 5 * 60_000;
const POLL_MS = 2000;

/**
 * Imports a period of a PBX's own call history: calls made while the hub (or its link to the
 * PBX) was down reach the hub, and through it the CRMs, as if they had been heard live. A
 * call the hub has already ended is left alone (known); one it never heard of, or heard only
 * part of, is stored from the PBX's record. Event ids are deterministic, so running the same
 * period again imports nothing new.
 */
@Injectable()
export class BackfillService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Backfill');
  private timer?: NodeJS.Timeout;
  private polling = false;
  private stopping = false;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly sources: PbxSourcesService,
    private readonly adapters: PbxAdapters,
    private readonly tenants: TenantsService,
    private readonly ingest: IngestService,
    private readonly clock: Clock,
    lifecycle: Lifecycle,
  ) {
    lifecycle.onStop(async () => {
      this.stopping = true;
    });
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.poll(), POLL_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    this.stopping = true;
    if (this.timer) clearInterval(this.timer);
  }

  /**
   * Runs the backfills that are due, one at a time, on whichever instance claims them first:
   * the claim is a conditional UPDATE, so two instances never run the same one.
   */
  async poll(): Promise<void> {
    if (this.polling || this.stopping) return;
    this.polling = true;
    try {
      for (;;) {
        const now = this.clock.now();
        const due = (await this.db.query(
          `SELECT id FROM backfills
            WHERE (status = 'queued' AND not_before <= ?)
               OR (status = 'running' AND claimed_until < ?)
            ORDER BY not_before LIMIT 5`,
          [sqlTime(now), sqlTime(now)],
        )) as { id: string }[];
        let ran = false;
        for (const { id } of due) {
          if (this.stopping) return;
          if (await this.claim(id)) {
            ran = true;
            await this.run(id);
          }
        }
        if (!ran) return;
      }
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'backfill poll failed');
    } finally {
      this.polling = false;
    }
  }

  private async claim(id: string): Promise<boolean> {
    const now = this.clock.now();
    const res = (await this.db.query(
      `UPDATE backfills SET status = 'running', claimed_until = ?, attempts = attempts + 1,
              updated_at = ?
        WHERE id = ? AND ((status = 'queued' AND not_before <= ?)
                       OR (status = 'running' AND claimed_until < ?))`,
      [sqlTime(new Date(now.getTime() + CLAIM_MS)), sqlTime(now), id, sqlTime(now), sqlTime(now)],
    )) as { affectedRows: number };
    return res.affectedRows === 1;
  }

  async start(tenantId: string, sourceId: string, body: unknown): Promise<BackfillView> {
    const dto = validateDto(BackfillDto, body);
    const from = new Date(dto.from);
    const to = new Date(dto.to);
    if (to <= from) throw new BadRequestException('to must be later than from');
    if (to.getTime() - from.getTime() > MAX_PERIOD_MS)
      throw new BadRequestException('the period from–to must be at most 31 days');
    if (to.getTime() > this.clock.nowMs() + 60_000)
      throw new BadRequestException('to must not lie in the future');
    const source = await this.sources.get(tenantId, sourceId);
    if (!this.adapters.get(source.type)?.history) {
      throw new HttpException(`a ${source.type} PBX source keeps no call history to import`, 422);
    }
    const id = randomUUID();
    const now = sqlTime(this.clock.now());
    await this.db.query(
      `INSERT INTO backfills
         (id, tenant_id, source_id, from_at, to_at, status, not_before, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?)`,
      [id, tenantId, sourceId, sqlTime(from), sqlTime(to), now, now, now],
    );
    const view = await this.get(tenantId, id);
    // This instance starts on it at once; any other would within a poll.
    setImmediate(() => void this.poll());
    return view;
  }

  async get(tenantId: string, id: string): Promise<BackfillView> {
    const row = await this.row(id);
    if (!row || row.tenant_id !== tenantId) throw new NotFoundException('no such backfill');
    const view: BackfillView = {
      id: row.id,
      sourceId: row.source_id,
      from: new Date(row.from_at).toISOString(),
      to: new Date(row.to_at).toISOString(),
      status: row.status,
      calls: { seen: row.seen, imported: row.imported, known: row.known },
    };
    if (row.error) view.error = row.error;
    return view;
  }

  /** One claimed attempt; a failure is tried again later, the last one marks it failed. */
  private async run(id: string): Promise<void> {
    const row = await this.row(id);
    if (!row || row.status !== 'running') return;
    try {
      const tenant = await this.tenants.get(row.tenant_id);
      const source = await this.sources.get(row.tenant_id, row.source_id);
      const adapter = this.adapters.get(source.type);
      if (!adapter?.history) throw new Error(`a ${source.type} source keeps no history`);
      const calls = (
        await adapter.history(source, this.sources.credentials(source), {
          from: new Date(row.from_at),
          to: new Date(row.to_at),
          timezone: tenant.timezone,
          defaultCountry: tenant.defaultCountry,
        })
      ).filter((events) => events.length > 0);
      const ended = await this.endedCalls(
        row.tenant_id,
        calls.map((events) => events[0].callId),
      );
      const missing = calls.filter((events) => !ended.has(events[0].callId));
      for (let i = 0; i < missing.length; i += CALLS_PER_BATCH) {
        const batch: NormalizedEvent[] = missing.slice(i, i + CALLS_PER_BATCH).flat();
        await this.ingest.ingest(row.tenant_id, batch, source.type, 'drop', 'hold');
      }
      await this.finish(id, 'done', {
        seen: calls.length,
        imported: missing.length,
        known: calls.length - missing.length,
      });
      this.logger.log(
        { tenantId: row.tenant_id, backfillId: id, seen: calls.length, imported: missing.length },
        'backfill done',
      );
    } catch (err) {
      const message = (err as Error).message;
      this.logger.warn(
        { tenantId: row.tenant_id, backfillId: id, attempt: row.attempts, err: message },
        'backfill attempt failed',
      );
      if (row.attempts >= MAX_ATTEMPTS) {
        await this.finish(id, 'failed', null, message);
        return;
      }
      const retryAt = new Date(this.clock.nowMs() + 5000 * 2 ** (row.attempts - 1));
      await this.db.query(
        `UPDATE backfills SET status = 'queued', not_before = ?, claimed_until = NULL, error = ?,
                updated_at = ? WHERE id = ?`,
        [sqlTime(retryAt), message.slice(0, 500), sqlTime(this.clock.now()), id],
      );
    }
  }

  /** Of these PBX call ids, the calls the hub has and has ended. */
  private async endedCalls(tenantId: string, callIds: string[]): Promise<Set<string>> {
    const out = new Set<string>();
    for (let i = 0; i < callIds.length; i += 500) {
      const chunk = callIds.slice(i, i + 500);
      const rows = (await this.db.query(
        `SELECT call_id FROM calls WHERE tenant_id = ? AND status = 'ended' AND call_id IN (?)`,
        [tenantId, chunk],
      )) as { call_id: string }[];
      for (const r of rows) out.add(r.call_id);
    }
    return out;
  }

  private async row(id: string): Promise<BackfillRow | null> {
    if (!/^[0-9a-f-]{36}$/.test(id)) return null;
    const rows = (await this.db.query('SELECT * FROM backfills WHERE id = ?', [
      id,
    ])) as BackfillRow[];
    return rows[0] ?? null;
  }

  private async finish(
    id: string,
    status: BackfillStatus,
    counts: BackfillView['calls'] | null,
    error: string | null = null,
  ): Promise<void> {
    const set = counts ? ', seen = ?, imported = ?, known = ?' : '';
    const args = counts ? [counts.seen, counts.imported, counts.known] : [];
    await this.db.query(
      `UPDATE backfills SET status = ?, error = ?, claimed_until = NULL, updated_at = ?${set}
        WHERE id = ?`,
      [status, error?.slice(0, 500) ?? null, sqlTime(this.clock.now()), ...args, id],
    );
  }
}
