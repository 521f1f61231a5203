import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

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
    help: 'PBX requests rejected (bad signature, invalid payload, storage down)',
    labelNames: ['source', 'reason'],
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
  readonly syncDone = new Counter({
    name: 'hub_crm_actions_done_total',
    help: 'CRM actions completed',
    labelNames: ['connector', 'action'],
    registers: [this.registry],
  });
  readonly routeDecisions = new Histogram({
    name: 'hub_route_duration_seconds',
    help: 'Routing decision time',
    labelNames: ['reason'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers: [this.registry],
  });
  readonly popLatency = new Histogram({
    name: 'hub_pop_latency_seconds',
    help: 'Event accepted to CRM pop request sent',
    buckets: [0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
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
