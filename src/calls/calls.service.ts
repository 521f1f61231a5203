import { BadRequestException, Injectable, NotFoundException } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { RecordingLinks } from '../integrations/recording-links.service';
import { sqlTime } from './ingest.service';
import type { ListCallsQueryDto } from './calls.dto';
import type { NormalizedEvent } from './call-event';

interface CallDbRow {
  id: string;
  tenant_id: string;
  call_id: string;
  direction: string;
  status: string;
  result: string | null;
  from_number: string | null;
  to_number: string | null;
  extension: string | null;
  answered_by: string | null;
  ringing: string | string[];
  duration: number | null;
  started_at: Date;
  answered_at: Date | null;
  ended_at: Date | null;
  recording_url: string | null;
  last_error: string | null;
}

export interface CallView {
  callId: string;
  direction: string;
  status: string;
  result: string | null;
  duration: number | null;
  from: string | null;
  to: string | null;
  extension: string | null;
  answeredBy: string | null;
  ringing: string[];
  startedAt: string;
  answeredAt: string | null;
  endedAt: string | null;
  recordingUrl: string | null;
  /** The hub's signed link to the recording: plays without credentials (what CRMs get). */
  recordingLink: string | null;
  lastError: string | null;
}

export interface ActionView {
  status: string;
  externalId: string | null;
  attempts: number;
  lastError: string | null;
  updatedAt: string;
}

export interface CallDetailView extends CallView {
  events: (NormalizedEvent & { receivedAt: string; processed: boolean })[];
  integrations: { integrationId: string; connector: string; actions: Record<string, ActionView> }[];
}

const iso = (d: Date | null): string | null => (d ? new Date(d).toISOString() : null);

function encodeCursor(row: CallDbRow): string {
  return Buffer.from(`${new Date(row.started_at).getTime()}:${row.id}`).toString('base64url');
}

function decodeCursor(cursor: string): { startedAt: Date; id: string } {
  const m = /^(\d{1,15}):(\d{1,20})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new BadRequestException('cursor is not a cursor returned by this API');
  return { startedAt: new Date(Number(m[1])), id: m[2] };
}

@Injectable()
export class CallsService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly links: RecordingLinks,
  ) {}

  async list(
    tenantId: string,
    q: ListCallsQueryDto,
  ): Promise<{ items: CallView[]; nextCursor: string | null }> {
    const limit = q.limit ?? 50;
    const where = ['tenant_id = ?'];
    const params: unknown[] = [tenantId];
    if (q.since) {
      where.push('started_at >= ?');
      params.push(sqlTime(q.since));
    }
    if (q.until) {
      where.push('started_at < ?');
      params.push(sqlTime(q.until));
    }
    if (q.result) {
      where.push('result = ?');
      params.push(q.result);
    }
    if (q.cursor) {
      const c = decodeCursor(q.cursor);
      where.push('(started_at < ? OR (started_at = ? AND id < ?))');
      params.push(sqlTime(c.startedAt), sqlTime(c.startedAt), c.id);
    }
    const rows = (await this.db.query(
      `SELECT * FROM calls WHERE ${where.join(' AND ')} ORDER BY started_at DESC, id DESC LIMIT ?`,
      [...params, limit + 1],
    )) as CallDbRow[];
    const page = rows.slice(0, limit);
    return {
      items: page.map((r) => this.view(r)),
      nextCursor: rows.length > limit ? encodeCursor(page[page.length - 1]) : null,
    };
  }

  async detail(tenantId: string, callId: string): Promise<CallDetailView> {
    // One snapshot for the call, its events and its sync rows: no torn view while a job commits.
    return this.db.transaction('REPEATABLE READ', async (tx) =>
      this.readDetail(tx, tenantId, callId),
    );
  }

  private async readDetail(
    tx: EntityManager,
    tenantId: string,
    callId: string,
  ): Promise<CallDetailView> {
    const [row] = (await tx.query('SELECT * FROM calls WHERE tenant_id = ? AND call_id = ?', [
      tenantId,
      callId,
    ])) as CallDbRow[];
    if (!row) throw new NotFoundException(`call ${callId} not found`);
    const events = (await tx.query(
      'SELECT payload, received_at, processed_at FROM call_events WHERE tenant_id = ? AND call_id = ? ORDER BY occurred_at, id',
      [tenantId, callId],
    )) as { payload: string | NormalizedEvent; received_at: Date; processed_at: Date | null }[];
    const sync = (await tx.query(
      `SELECT s.integration_id, i.connector, s.action, s.status, s.external_id, s.attempts, s.last_error, s.updated_at
       FROM call_sync s JOIN integrations i ON i.id = s.integration_id WHERE s.call_pk = ? ORDER BY s.id`,
      [row.id],
    )) as {
      integration_id: string;
      connector: string;
      action: string;
      status: string;
      external_id: string | null;
      attempts: number;
      last_error: string | null;
      updated_at: Date;
    }[];
    const byIntegration = new Map<string, CallDetailView['integrations'][number]>();
    for (const s of sync) {
      const entry = byIntegration.get(s.integration_id) ?? {
        integrationId: s.integration_id,
        connector: s.connector,
        actions: {},
      };
      entry.actions[s.action] = {
        status: s.status,
        externalId: s.external_id,
        attempts: s.attempts,
        lastError: s.last_error,
        updatedAt: new Date(s.updated_at).toISOString(),
      };
      byIntegration.set(s.integration_id, entry);
    }
    return {
      ...this.view(row),
      events: events.map((e) => ({
        ...(typeof e.payload === 'string' ? (JSON.parse(e.payload) as NormalizedEvent) : e.payload),
        receivedAt: new Date(e.received_at).toISOString(),
        processed: e.processed_at !== null,
      })),
      integrations: [...byIntegration.values()],
    };
  }

  view(r: CallDbRow): CallView {
    return {
      callId: r.call_id,
      direction: r.direction,
      status: r.status,
      result: r.result,
      duration: r.duration,
      from: r.from_number,
      to: r.to_number,
      extension: r.extension,
      answeredBy: r.answered_by,
      ringing: typeof r.ringing === 'string' ? (JSON.parse(r.ringing) as string[]) : r.ringing,
      startedAt: new Date(r.started_at).toISOString(),
      answeredAt: iso(r.answered_at),
      endedAt: iso(r.ended_at),
      recordingUrl: r.recording_url,
      recordingLink: r.recording_url
        ? this.links.link({ tenantId: r.tenant_id, callId: r.call_id })
        : null,
      lastError: r.last_error,
    };
  }
}
