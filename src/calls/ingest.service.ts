import { randomInt } from 'node:crypto';
import {
  BadRequestException,
  Injectable,
  Logger,
  ServiceUnavailableException,
} from '@nestjs/common';
import { Clock } from '../common/clock';
import { GroupCommit } from '../common/group-commit';
import { validateDto } from '../common/validation';
import { eventTimeProblem } from '../common/validators';
import { normalizeParty, toE164 } from '../contacts/phone';
import { Metrics } from '../observability/metrics.service';
import { JobQueue } from '../queue/job-queue.service';
import { CALLS_QUEUE } from '../queue/queue.constants';
import type { Tenant } from '../tenants/tenant.entity';
import { AnsweringNumbers } from './answering-numbers';
import { DIRECTIONS, EVENT_TYPES, NormalizedEvent, RESULTS } from './call-event';
import { CallEventsRepository, CallRef } from './call-events.repository';
import { CALLS_PER_JOB, CallWorkload } from './call-workload';
import {
  EVENT_ID_FORMAT,
  EXTENSION_FORMAT,
  IngestBatchDto,
  IngestEventDto,
  MAX_CALL_DURATION_S,
} from './ingest.dto';
import { quickEvents } from './ingest-quick-check';
import { IngestGate } from './ingest-gate';

export const PROCESS_CALL_JOB = 'process-calls';
/** The calls one job brings up to date; a job takes up to CALLS_PER_JOB of them. */
export interface ProcessCallJob {
  calls: CallRef[];
}

export interface IngestResult {
  accepted: number;
  duplicates: number;
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
  const dtos =
    quickEvents(body) ??
    (isBatch ? validateDto(IngestBatchDto, body).events : [validateDto(IngestEventDto, body)]);
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

/**
 * Why a normalized event cannot be stored, or null. The generic ingress validates its DTO
 * before this; PBX adapters (AMI, Zadarma) build events from vendor data, and the same
 * limits hold for them, so that no source can store an event that fails its call later.
 */
export function storableProblem(ev: NormalizedEvent, nowMs: number): string | null {
  if (typeof ev.id !== 'string' || !EVENT_ID_FORMAT.test(ev.id))
    return 'id must be 1-128 printable ASCII characters';
  if (typeof ev.callId !== 'string' || !EVENT_ID_FORMAT.test(ev.callId))
    return 'callId must be 1-128 printable ASCII characters';
  if (!EVENT_TYPES.includes(ev.type)) return `type must be one of ${EVENT_TYPES.join(', ')}`;
  const time = eventTimeProblem(ev.at, nowMs);
  if (time) return `at ${time}`;
  if (ev.direction !== undefined && !DIRECTIONS.includes(ev.direction))
    return `direction must be one of ${DIRECTIONS.join(', ')}`;
  for (const side of ['from', 'to'] as const) {
    const v = ev[side];
    if (v !== undefined && (typeof v !== 'string' || v.length < 1 || v.length > 64))
      return `${side} must be 1-64 characters`;
  }
  if (ev.extension !== undefined && !EXTENSION_FORMAT.test(ev.extension))
    return 'extension must be 1-32 characters of an extension';
  if (ev.result !== undefined && !RESULTS.includes(ev.result))
    return `result must be one of ${RESULTS.join(', ')}`;
  if (
    ev.duration !== undefined &&
    (!Number.isInteger(ev.duration) || ev.duration < 0 || ev.duration > MAX_CALL_DURATION_S)
  )
    return 'duration must be a whole number of seconds up to 7 days';
  if (
    ev.recordingUrl !== undefined &&
    (typeof ev.recordingUrl !== 'string' || ev.recordingUrl.length > 2048)
  )
    return 'recordingUrl must be at most 2048 characters';
  return null;
}

/**
 * Whether a post may wait for processing to catch up (IngestGate): 'hold' for a PBX that only
 * reports events; 'now' where the PBX waits for the reply to route a call, or for the hub's
 * own events.
 */
export type Admission = 'hold' | 'now';

/** What to do with events a PBX adapter built that cannot be stored. */
export type InvalidEvents =
  /** Refuse the whole request (400 naming the field): the sender can correct and resend. */
  | 'reject'
  /** Store the rest and count the rest as rejected: a stream (AMI) has no one to answer. */
  | 'drop';

interface InsertItem {
  tenantId: string;
  events: NormalizedEvent[];
}

@Injectable()
export class IngestService {
  private readonly logger = new Logger('IngestService');
  /**
   * Concurrent requests share INSERTs (one commit for many) and queue round trips; while this
   * instance's call workers are all busy, calls gather into fuller jobs (CallWorkload).
   */
  private readonly inserts = new GroupCommit<InsertItem, number>(
    (items) => this.insertGroup(items),
    {
      maxInFlight: 1,
      maxGroup: 2000,
      weight: (item) => item.events.length,
    },
  );
  private readonly adds = new GroupCommit<CallRef, void>((refs) => this.addGroup(refs), {
    maxInFlight: 1,
    maxGroup: 10 * CALLS_PER_JOB,
    hold: () => this.workload.untilFree(),
  });

  constructor(
    private readonly events: CallEventsRepository,
    private readonly queue: JobQueue,
    private readonly metrics: Metrics,
    private readonly clock: Clock,
    private readonly answering: AnsweringNumbers,
    private readonly gate: IngestGate,
    private readonly workload: CallWorkload,
  ) {
    workload.countHeldBy(() => this.adds.pending);
  }

  /**
   * Stores events without queueing their calls, for a caller that processes them itself
   * (the hub's own events); returns how many were new.
   */
  async store(tenantId: string, input: NormalizedEvent[], source: string): Promise<number> {
    const events = await this.answering.apply(
      tenantId,
      this.storable(tenantId, input, source, 'drop'),
    );
    if (events.length === 0) return 0;
    const inserted = await this.inserts.submit({ tenantId, events });
    this.metrics.eventsAccepted.inc({ source }, inserted);
    return inserted;
  }

  /**
   * Stores events (idempotent on their id) and queues their calls. Answers once the events
   * are committed, without waiting for the queue: a lost queue add is repaired by the sweeper.
   */
  async ingest(
    tenantId: string,
    input: NormalizedEvent[],
    source = 'generic',
    invalid: InvalidEvents = 'reject',
    admission: Admission = 'now',
  ): Promise<IngestResult> {
    if (admission === 'hold') {
      const held = this.gate.pass();
      if (held) await held;
    }
    const events = await this.answering.apply(
      tenantId,
      this.storable(tenantId, input, source, invalid),
    );
    if (events.length === 0) return { accepted: 0, duplicates: 0 };
    let inserted: number;
    try {
      inserted = await this.inserts.submit({ tenantId, events });
    } catch (err) {
      // The 503 is counted with the request's refusal (hub_events_rejected_total); a stream
      // (AMI) keeps its events and tries again, so nothing is refused there.
      this.logger.error({ tenantId, err: (err as Error).message }, 'could not store events');
      throw new ServiceUnavailableException('event storage is unavailable; retry later');
    }
    const duplicates = events.length - inserted;
    if (inserted > 0) {
      const callIds = [...new Set(events.map((e) => e.callId))];
      for (const callId of callIds) void this.enqueue(tenantId, callId);
    }
    this.metrics.eventsAccepted.inc({ source }, inserted);
    if (duplicates) this.metrics.eventsDuplicate.inc({ source }, duplicates);
    return { accepted: inserted, duplicates };
  }

  private storable(
    tenantId: string,
    events: NormalizedEvent[],
    source: string,
    invalid: InvalidEvents,
  ): NormalizedEvent[] {
    const now = this.clock.nowMs();
    const problems = events.map((ev) => storableProblem(ev, now));
    if (problems.every((p) => p === null)) return events;
    const bad = problems.filter((p) => p !== null).length;
    // A refused request is counted once, with its answer; dropped stream events one by one.
    if (invalid === 'drop')
      this.metrics.eventsRejected.inc({ source, reason: 'invalid', tenant: tenantId }, bad);
    if (invalid === 'reject') {
      const named = problems.map((p, i) => (p && events.length > 1 ? `events.${i}.${p}` : p));
      throw new BadRequestException(named.filter(Boolean).join('; '));
    }
    this.logger.warn(
      { source, dropped: bad, problems: [...new Set(problems.filter(Boolean))].slice(0, 5) },
      'dropped events that cannot be stored',
    );
    return events.filter((_, i) => problems[i] === null);
  }

  async enqueue(tenantId: string, callId: string): Promise<void> {
    try {
      await this.adds.submit({ tenantId, callId });
    } catch (err) {
      this.logger.warn(
        { tenantId, callId, err: (err as Error).message },
        'queue unavailable; the sweeper will pick the call up',
      );
    }
  }

  private async addGroup(refs: CallRef[]): Promise<void[]> {
    const unique = [...new Map(refs.map((r) => [`${r.tenantId}:${r.callId}`, r])).values()];
    const jobs: ProcessCallJob[] = [];
    for (let i = 0; i < unique.length; i += CALLS_PER_JOB)
      jobs.push({ calls: unique.slice(i, i + CALLS_PER_JOB) });
    await this.queue.addBulk<ProcessCallJob>(CALLS_QUEUE, PROCESS_CALL_JOB, jobs);
    return refs.map(() => undefined);
  }

  /** Every request's events stand or fall together; returns, per request, how many were new. */
  private insertGroup(items: InsertItem[]): Promise<number[]> {
    return this.events.insertGroup(items, randomInt(1, 2 ** 47), this.clock.now());
  }
}
