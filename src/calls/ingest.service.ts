import {
  BadRequestException,
  Injectable,
  Logger,
  ServiceUnavailableException,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { validateDto } from '../common/validation';
import { normalizeParty, toE164 } from '../contacts/phone';
import { Metrics } from '../observability/metrics.service';
import { JobQueue } from '../queue/job-queue.service';
import { CALLS_QUEUE } from '../queue/queue.constants';
import type { Tenant } from '../tenants/tenant.entity';
import type { NormalizedEvent } from './call-event';
import { IngestBatchDto, IngestEventDto } from './ingest.dto';

export const PROCESS_CALL_JOB = 'process-call';
export interface ProcessCallJob {
  tenantId: string;
  callId: string;
}

export interface IngestResult {
  accepted: number;
  duplicates: number;
}

/** MySQL DATETIME(3) literal in UTC. */
export function sqlTime(iso: string | Date): string {
  const d = typeof iso === 'string' ? new Date(iso) : iso;
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

/**
 * Validates and normalizes a tenant's events. A batch is all-or-nothing: one bad
 * event rejects the request and names the field.
 */
export function parseEvents(
  body: unknown,
  tenant: Pick<Tenant, 'defaultCountry'>,
): NormalizedEvent[] {
  const isBatch =
    body !== null && typeof body === 'object' && !Array.isArray(body) && 'events' in body;
  const dtos = isBatch
    ? validateDto(IngestBatchDto, body).events
    : [validateDto(IngestEventDto, body)];
  const problems: string[] = [];
  const events = dtos.map((dto, i) => {
    const path = isBatch ? `events.${i}.` : '';
    const ev: NormalizedEvent = {
      id: dto.id,
      callId: dto.callId,
      type: dto.type,
      at: new Date(dto.at).toISOString(),
    };
    if (dto.direction) ev.direction = dto.direction;
    for (const side of ['from', 'to'] as const) {
      const raw = dto[side];
      if (raw === undefined) continue;
      // The outside party (caller of an inbound call, callee of an outbound one) must be a real number.
      const outside =
        (side === 'from' && dto.direction === 'inbound') ||
        (side === 'to' && dto.direction === 'outbound');
      const normalized = outside
        ? toE164(raw, tenant.defaultCountry)
        : normalizeParty(raw, tenant.defaultCountry);
      if (normalized === null) {
        problems.push(
          `${path}${side} must be a phone number (international, or national for ${tenant.defaultCountry}) or an extension`,
        );
      } else {
        ev[side] = normalized;
      }
    }
    if (dto.extension !== undefined) ev.extension = dto.extension;
    if (dto.result !== undefined) ev.result = dto.result;
    if (dto.duration !== undefined) ev.duration = dto.duration;
    if (dto.recordingUrl !== undefined) ev.recordingUrl = dto.recordingUrl;
    if (dto.recorded !== undefined) ev.recorded = dto.recorded;
    return ev;
  });
  if (problems.length) throw new BadRequestException(problems.join('; '));
  return events;
}

@Injectable()
export class IngestService {
  private readonly logger = new Logger('IngestService');

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly queue: JobQueue,
    private readonly metrics: Metrics,
  ) {}

  /**
   * Stores events (idempotent on their id) and queues their calls. Answers only
   * after the events are committed; a lost queue add is repaired by the sweeper.
   */
  async ingest(
    tenantId: string,
    events: NormalizedEvent[],
    source = 'generic',
  ): Promise<IngestResult> {
    const inserted = await this.store(tenantId, events, source);
    const duplicates = events.length - inserted;
    if (inserted > 0) {
      const callIds = [...new Set(events.map((e) => e.callId))];
      await Promise.all(callIds.map((callId) => this.enqueue(tenantId, callId)));
    }
    this.metrics.eventsAccepted.inc({ source }, inserted);
    if (duplicates) this.metrics.eventsDuplicate.inc({ source }, duplicates);
    return { accepted: inserted, duplicates };
  }

  async enqueue(tenantId: string, callId: string): Promise<void> {
    try {
      await this.queue.add<ProcessCallJob>(CALLS_QUEUE, PROCESS_CALL_JOB, { tenantId, callId });
    } catch (err) {
      this.logger.warn(
        { tenantId, callId, err: (err as Error).message },
        'queue unavailable; the sweeper will pick the call up',
      );
    }
  }

  private async store(
    tenantId: string,
    events: NormalizedEvent[],
    source: string,
  ): Promise<number> {
    const placeholders: string[] = [];
    const params: unknown[] = [];
    const receivedAt = sqlTime(new Date());
    for (const ev of events) {
      placeholders.push('(?, ?, ?, ?, ?, ?, ?)');
      params.push(
        tenantId,
        ev.id,
        ev.callId,
        ev.type,
        sqlTime(ev.at),
        JSON.stringify(ev),
        receivedAt,
      );
    }
    try {
      // One statement: the whole batch commits or none of it does.
      const res = (await this.db.query(
        `INSERT IGNORE INTO call_events (tenant_id, event_id, call_id, type, occurred_at, payload, received_at) VALUES ${placeholders.join(', ')}`,
        params,
      )) as { affectedRows: number };
      return res.affectedRows;
    } catch (err) {
      this.metrics.eventsRejected.inc({ source, reason: 'storage' });
      this.logger.error({ tenantId, err: (err as Error).message }, 'could not store events');
      throw new ServiceUnavailableException('event storage is unavailable; retry later');
    }
  }
}
