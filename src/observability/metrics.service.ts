import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Server-side latency buckets (seconds): fine below 20 ms, so that a p99 of 5 ms or of 20 ms
 * can be read off them, and wide enough for a routing budget or a throttled CRM.
 */
export const LATENCY_BUCKETS = [
  0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
  5,
];

/** The `tenant` label of a request whose tenant the hub has not found (ids are never invented). */
export const UNKNOWN_TENANT = 'unknown';

/** Prometheus metrics, all named hub_*. One registry per app instance (tests boot several). */
@Injectable()
export class Metrics {
  readonly registry = new Registry();

  readonly eventsAccepted = new Counter({
    name: 'hub_events_accepted_total',
    help: 'PBX events stored and queued',
    labelNames: ['source'],
    registers: [this.registry],
  });
  readonly eventsDuplicate = new Counter({
    name: 'hub_events_duplicates_total',
    help: 'PBX events ignored because their id was already stored',
    labelNames: ['source'],
    registers: [this.registry],
  });
  readonly eventsRejected = new Counter({
    name: 'hub_events_rejected_total',
    help:
      'PBX requests refused (one per HTTP request answered 4xx/5xx on a PBX ingest endpoint) and ' +
      'streamed events dropped as invalid (AMI, backfill: one per event), by stable reason; ' +
      'tenant is "unknown" until the hub has found the tenant',
    labelNames: ['source', 'reason', 'tenant'],
    registers: [this.registry],
  });
  readonly eventsProcessed = new Counter({
    name: 'hub_events_processed_total',
    help: 'Stored events applied to their call',
    registers: [this.registry],
  });
  readonly eventsSwept = new Counter({
    name: 'hub_events_requeued_total',
    help: 'Calls re-queued by the sweeper because their events were not processed in time',
    registers: [this.registry],
  });
  readonly callsFailed = new Counter({
    name: 'hub_calls_failed_total',
    help: 'Calls whose events kept failing to apply and were set aside (see their last error)',
    registers: [this.registry],
  });
  readonly callsAbandoned = new Counter({
    name: 'hub_calls_closed_by_hub_total',
    help: 'Calls the hub ended because their end never arrived',
    registers: [this.registry],
  });
  readonly callFailures = new Counter({
    name: 'hub_call_failures_total',
    help: "Failed attempts to apply a call's events (data errors, not outages)",
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'hub_queue_depth',
    help: 'Jobs per queue and state',
    labelNames: ['queue', 'state'],
    registers: [this.registry],
  });
  readonly jobDuration = new Histogram({
    name: 'hub_job_duration_seconds',
    help: 'Job run time',
    labelNames: ['queue', 'job', 'outcome'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly jobFailures = new Counter({
    name: 'hub_job_failures_total',
    help: 'Failed job attempts; final="true" when no retry is left',
    labelNames: ['queue', 'job', 'final'],
    registers: [this.registry],
  });
  readonly crmRequests = new Counter({
    name: 'hub_crm_requests_total',
    help: 'HTTP requests made to CRMs',
    labelNames: ['connector', 'outcome'],
    registers: [this.registry],
  });
  readonly syncDeadLettered = new Counter({
    name: 'hub_crm_actions_failed_total',
    help: 'CRM actions given up after retries or rejected by the CRM',
    labelNames: ['connector', 'action', 'reason'],
    registers: [this.registry],
  });
  readonly syncDeadLetteredByTenant = new Counter({
    name: 'hub_crm_actions_failed_by_tenant_total',
    help: 'CRM actions failed for good (as hub_crm_actions_failed_total), by tenant',
    labelNames: ['tenant', 'connector', 'action'],
    registers: [this.registry],
  });
  readonly syncFailing = new Gauge({
    name: 'hub_crm_actions_failing',
    help:
      'CRM actions waiting for a retry after a failed attempt, by tenant (read from the ' +
      'database at scrape time, at most every few seconds; the same on every instance)',
    labelNames: ['tenant', 'connector'],
    registers: [this.registry],
  });
  readonly syncDone = new Counter({
    name: 'hub_crm_actions_done_total',
    help: 'CRM actions completed',
    labelNames: ['connector', 'action'],
    registers: [this.registry],
  });
  readonly routeDecisions = new Histogram({
    name: 'hub_route_duration_seconds',
    help:
      'Routing decision time inside the hub (contact lookup and agent choice), for the route ' +
      'endpoint and the Zadarma/VATS steering answers; not the whole request',
    labelNames: ['reason'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly routeRequestDuration = new Histogram({
    name: 'hub_route_request_duration_seconds',
    help:
      'POST /v1/pbx/:tenantId/route as the server sees it: from Fastify onRequest to the ' +
      'response sent (onResponse), every answer included',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly ingestDuration = new Histogram({
    name: 'hub_ingest_duration_seconds',
    help:
      'PBX ingest requests (generic events, Zadarma, VATS) as the server sees them: from ' +
      'Fastify onRequest to the response sent (onResponse), every answer included',
    labelNames: ['source'],
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly popLatency = new Histogram({
    name: 'hub_pop_latency_seconds',
    help:
      'From a ringing event stored (its received_at) to the first request of the card pop ' +
      'leaving the hub for the CRM (after its rate-limit slot); one observation per attempt ' +
      'that sent a request',
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });

  readonly ingestHeld = new Counter({
    name: 'hub_ingest_held_total',
    help:
      'PBX event posts that waited before being stored because call processing was behind ' +
      '(HUB_INGEST_BACKLOG_JOBS)',
    registers: [this.registry],
  });

  readonly retentionPurged = new Counter({
    name: 'hub_retention_purged_total',
    help: 'Rows removed by the retention purge (HUB_RETENTION_DAYS), per kind',
    labelNames: ['kind'],
    registers: [this.registry],
  });

  private readonly scrapeHooks: (() => Promise<void>)[] = [];

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'hub_' });
  }

  /** Work that refreshes gauges just before a scrape (e.g. the queue reads its depth). */
  beforeScrape(hook: () => Promise<void>): void {
    this.scrapeHooks.push(hook);
  }

  /** The Prometheus text; a failing hook leaves its gauges at their last value. */
  async scrape(): Promise<string> {
    await Promise.all(this.scrapeHooks.map((hook) => hook().catch(() => undefined)));
    return this.registry.metrics();
  }
}
