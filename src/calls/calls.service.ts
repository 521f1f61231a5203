import { BadRequestException, Injectable, NotFoundException } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { Sql } from '../common/sql';
import { ClientCodes } from '../contacts/client-codes.service';
import { normalizeParty } from '../contacts/phone';
import { TenantsService } from '../tenants/tenants.service';
import type { NormalizedEvent } from './call-event';
import { CallEventsRepository, CallRef } from './call-events.repository';
import type { ExportCallsQueryDto, ListCallsQueryDto } from './calls.dto';
import { CallListFilter, CallRow, CallsRepository, ringingOf } from './calls.repository';

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
  /** Privacy mode: the outside party's client code. */
  clientCode?: string;
}

export type CallDetailView = CallView & {
  events: (NormalizedEvent & { receivedAt: string; processed: boolean })[];
  /** Sections added by the rooms above calls (e.g. `integrations`: the state of each CRM action). */
  [section: string]: unknown;
};

/** Reads a section of a call's detail inside the detail's snapshot transaction. */
export type DetailSection = (tx: Sql, call: CallRow) => Promise<unknown>;

/** SQL on the `calls` row that keeps calls with a CRM action in a state. */
export type ActionFilter = (
  action: string | undefined,
  status: string,
) => { sql: string; params: unknown[] };

const CSV_COLUMNS = [
  'callId',
  'direction',
  'status',
  'result',
  'from',
  'to',
  'extension',
  'answeredBy',
  'startedAt',
  'answeredAt',
  'endedAt',
  'duration',
  'recordingLink',
  'clientCode',
] as const;
const EXPORT_PAGE = 1000;
/** An export stops here; narrow the period for more. */
export const EXPORT_MAX = 100_000;

/** RFC 4180: quoted when needed; a leading =, +, - or @ is defused for spreadsheets. */
function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = String(value);
  if (/^[=+\-@]/.test(text) && !/^[+-]?\d/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

const iso = (d: Date | null): string | null => (d ? new Date(d).toISOString() : null);

function encodeCursor(row: CallRow): string {
  return Buffer.from(`${new Date(row.started_at).getTime()}:${row.id}`).toString('base64url');
}

function decodeCursor(cursor: string): { startedAt: Date; id: string } {
  const m = /^(\d{1,15}):(\d{1,20})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new BadRequestException('cursor is not a cursor returned by this API');
  return { startedAt: new Date(Number(m[1])), id: m[2] };
}

/**
 * The calls API's reads. Rooms above calls extend what it shows without calls importing
 * them: recordings supply the signed link, integrations the state of each CRM action.
 */
@Injectable()
export class CallsService {
  private recordingLink: (ref: CallRef) => string | null = () => null;
  private actionFilter: ActionFilter | null = null;
  private readonly sections = new Map<string, DetailSection>();

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly calls: CallsRepository,
    private readonly events: CallEventsRepository,
    private readonly tenants: TenantsService,
    private readonly codes: ClientCodes,
  ) {}

  /** In privacy mode each call carries its client's code. */
  private async withCodes<T extends CallView>(tenantId: string, views: T[]): Promise<T[]> {
    const tenant = await this.tenants.find(tenantId);
    if (!tenant?.privacy?.clientCodes) return views;
    const clientOf = (v: CallView) =>
      v.direction === 'outbound' ? v.to : v.direction === 'inbound' ? v.from : null;
    const numbers = views.map(clientOf).filter((n): n is string => !!n && n.startsWith('+'));
    const codes = await this.codes.codesOf(tenantId, numbers);
    return views.map((v) => {
      const code = codes.get(clientOf(v) ?? '');
      return code ? { ...v, clientCode: code } : v;
    });
  }

  useRecordingLinks(link: (ref: CallRef) => string): void {
    this.recordingLink = link;
  }

  addDetailSection(name: string, read: DetailSection): void {
    this.sections.set(name, read);
  }

  /** The room that keeps CRM actions says how to find calls by an action's state. */
  useActionFilter(filter: ActionFilter): void {
    this.actionFilter = filter;
  }

  private async filterOf(
    tenantId: string,
    q: ExportCallsQueryDto,
  ): Promise<Omit<CallListFilter, 'limit' | 'before'>> {
    const filter: Omit<CallListFilter, 'limit' | 'before'> = {
      since: q.since ? new Date(q.since) : undefined,
      until: q.until ? new Date(q.until) : undefined,
      result: q.result,
      direction: q.direction,
      extension: q.extension,
    };
    if (q.line) {
      const country = (await this.tenants.get(tenantId)).defaultCountry;
      filter.line = normalizeParty(q.line, country) ?? q.line;
    }
    if (q.action || q.actionStatus) {
      if (!this.actionFilter) throw new BadRequestException('no CRM actions to filter by');
      filter.extra = [this.actionFilter(q.action, q.actionStatus ?? 'failed')];
    }
    return filter;
  }

  /** The calls of a period as CSV, newest first, at most EXPORT_MAX rows. */
  async exportCsv(tenantId: string, q: ExportCallsQueryDto): Promise<string> {
    const filter = await this.filterOf(tenantId, q);
    const lines = [CSV_COLUMNS.join(',')];
    let before: CallListFilter['before'];
    for (let total = 0; total < EXPORT_MAX;) {
      const rows = await this.calls.list(tenantId, { ...filter, before, limit: EXPORT_PAGE });
      if (rows.length === 0) break;
      const views = await this.withCodes(
        tenantId,
        rows.map((r) => this.view(r)),
      );
      for (const v of views) lines.push(CSV_COLUMNS.map((c) => csvCell(v[c])).join(','));
      total += rows.length;
      if (rows.length < EXPORT_PAGE) break;
      const last = rows[rows.length - 1];
      before = { startedAt: new Date(last.started_at), id: String(last.id) };
    }
    return `${lines.join('\r\n')}\r\n`;
  }

  async list(
    tenantId: string,
    q: ListCallsQueryDto,
  ): Promise<{ items: CallView[]; nextCursor: string | null }> {
    const limit = q.limit ?? 50;
    const rows = await this.calls.list(tenantId, {
      ...(await this.filterOf(tenantId, q)),
      before: q.cursor ? decodeCursor(q.cursor) : undefined,
      limit: limit + 1,
    });
    const page = rows.slice(0, limit);
    return {
      items: await this.withCodes(
        tenantId,
        page.map((r) => this.view(r)),
      ),
      nextCursor: rows.length > limit ? encodeCursor(page[page.length - 1]) : null,
    };
  }

  /** One call as the list shows it, or null. */
  async one(tenantId: string, callId: string): Promise<CallView | null> {
    const row = await this.calls.find(tenantId, callId);
    return row ? (await this.withCodes(tenantId, [this.view(row)]))[0] : null;
  }

  /** A client's calls of a period (privacy mode's client timeline), each with its recording. */
  async ofClient(
    tenantId: string,
    clientNumber: string,
    from: Date,
    to: Date,
  ): Promise<CallView[]> {
    const rows = await this.calls.ofClient(tenantId, clientNumber, from, to, 1000);
    return this.withCodes(
      tenantId,
      rows.map((r) => this.view(r)),
    );
  }

  async detail(tenantId: string, callId: string): Promise<CallDetailView> {
    // One snapshot for the call, its events and every section: no torn view while a job commits.
    const detail = await this.db.transaction('REPEATABLE READ', async (tx) => {
      const row = await this.calls.find(tenantId, callId, tx);
      if (!row) throw new NotFoundException(`call ${callId} not found`);
      const events = await this.events.forCall(tx, tenantId, callId);
      const detail: CallDetailView = {
        ...this.view(row),
        events: events.map((e) => ({
          ...e.event,
          receivedAt: e.receivedAt.toISOString(),
          processed: e.processed,
        })),
      };
      for (const [name, read] of this.sections) detail[name] = await read(tx, row);
      return detail;
    });
    return (await this.withCodes(tenantId, [detail]))[0];
  }

  view(r: CallRow): CallView {
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
      ringing: ringingOf(r),
      startedAt: new Date(r.started_at).toISOString(),
      answeredAt: iso(r.answered_at),
      endedAt: iso(r.ended_at),
      recordingUrl: r.recording_url,
      recordingLink: r.recording_url
        ? this.recordingLink({ tenantId: r.tenant_id, callId: r.call_id })
        : null,
      lastError: r.last_error,
    };
  }
}
