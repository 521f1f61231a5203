import { randomUUID } from 'node:crypto';
import {
  BadRequestException,
  HttpException,
  Injectable,
  Logger,
  NotFoundException,
  OnApplicationBootstrap,
  ServiceUnavailableException,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { NormalizedEvent } from '../../calls/call-event';
import { IngestService } from '../../calls/ingest.service';
import { Clock } from '../../common/clock';
import { validateDto } from '../../common/validation';
import { JobQueue } from '../../queue/job-queue.service';
import { CALLS_QUEUE } from '../../queue/queue.constants';
import { TenantsService } from '../../tenants/tenants.service';
import { PbxAdapters } from '../pbx-adapters';
import { PbxSourcesService } from '../pbx-sources.service';
import { BackfillDto, BackfillStatus, BackfillView } from './backfill.dto';

export const BACKFILL_JOB = 'backfill';
interface BackfillJob {
  backfillId: string;
}

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
}

/** The longest period one backfill imports (Zadarma's statistics allow a month per query). */
const MAX_PERIOD_MS = 31 * 86_400_000;
/** Calls stored per ingest request. */
const CALLS_PER_BATCH = 200;

/**
 * Imports a period of a PBX's own call history: calls made while the hub (or its link to the
 * PBX) was down reach the hub, and through it the CRMs, as if they had been heard live. A
 * call the hub has already ended is left alone (known); one it never heard of, or heard only
 * part of, is stored from the PBX's record. Event ids are deterministic, so running the same
 * period again imports nothing new.
 */
@Injectable()
export class BackfillService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Backfill');

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly sources: PbxSourcesService,
    private readonly adapters: PbxAdapters,
    private readonly tenants: TenantsService,
    private readonly ingest: IngestService,
    private readonly queue: JobQueue,
    private readonly clock: Clock,
  ) {}

  onApplicationBootstrap(): void {
    this.queue.handle<BackfillJob>(
      CALLS_QUEUE,
      BACKFILL_JOB,
      1,
      (job) => this.run(job.backfillId),
      (job, _info, err) => this.finish(job.backfillId, 'failed', null, err.message),
    );
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
    const now = this.clock.now();
    await this.db.query(
      `INSERT INTO backfills (id, tenant_id, source_id, from_at, to_at, status, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, 'queued', ?, ?)`,
      [id, tenantId, sourceId, from, to, now, now],
    );
    try {
      await this.queue.add<BackfillJob>(
        CALLS_QUEUE,
        BACKFILL_JOB,
        { backfillId: id },
        { attempts: 5, jobId: `backfill-${id}` },
      );
    } catch (err) {
      await this.finish(id, 'failed', null, `could not be queued: ${(err as Error).message}`);
      throw new ServiceUnavailableException('the job queue is unavailable; retry later');
    }
    return this.get(tenantId, id);
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

  /** One attempt; a failure is retried by the queue, and the last one marks it failed. */
  async run(id: string): Promise<void> {
    const row = await this.row(id);
    if (!row || row.status === 'done' || row.status === 'failed') return;
    await this.finish(id, 'running', null, null);
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
        await this.ingest.ingest(row.tenant_id, batch, source.type, 'drop');
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
      await this.finish(id, 'running', null, (err as Error).message);
      throw err;
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
      `UPDATE backfills SET status = ?, error = ?, updated_at = ?${set} WHERE id = ?`,
      [status, error?.slice(0, 500) ?? null, this.clock.now(), ...args, id],
    );
  }
}
