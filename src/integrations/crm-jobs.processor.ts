import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { sqlTime } from '../calls/ingest.service';
import { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';
import { ContactResolver } from '../contacts/contact-resolver.service';
import { CallInfo, ConnectorError, isConnectorError, PopTarget } from '../connector-sdk';
import { Metrics } from '../observability/metrics.service';
import { JobQueue } from '../queue/job-queue.service';
import { CRM_QUEUE, RetryLaterError } from '../queue/queue.constants';
import { AgentsService } from './agents.service';
import { SYNC_ACTIONS, SyncAction } from './call-sync.entity';
import { ConnectorRuntime, LiveConnector } from './connector-runtime.service';
import { CLAIM_MS, LOG_BATCH, SyncJob } from './crm-jobs';
import type { Integration } from './integration.entity';
import { INSTALL_JOB, InstallJob, IntegrationsService } from './integrations.service';
import { RecordingLinks } from './recording-links.service';
import { SyncPlanner } from './sync-planner.service';

interface SyncRow {
  id: string;
  call_pk: string;
  integration_id: string;
  action: SyncAction;
  status: string;
  external_id: string | null;
  attempts: number;
  not_before: Date | null;
  claimed_until: Date | null;
  created_at: Date;
  tenant_id: string;
  call_id: string;
  direction: CallInfo['direction'];
  call_status: CallInfo['status'];
  result: CallInfo['result'];
  from_number: string | null;
  to_number: string | null;
  extension: string | null;
  ringing: string | string[];
  duration: number | null;
  started_at: Date;
  answered_at: Date | null;
  ended_at: Date | null;
  recording_url: string | null;
  recording_expected: number;
}

const SELECT_SYNC = `SELECT s.id, s.call_pk, s.integration_id, s.action, s.status, s.external_id, s.attempts,
  s.not_before, s.claimed_until, s.created_at, c.tenant_id, c.call_id, c.direction, c.status AS call_status,
  c.result, c.from_number, c.to_number, c.extension, c.ringing, c.duration, c.started_at, c.answered_at,
  c.ended_at, c.recording_url, c.recording_expected
  FROM call_sync s JOIN calls c ON c.id = s.call_pk`;

class Outcome {
  constructor(
    readonly status: 'done' | 'skipped' | 'failed',
    readonly note: string | null = null,
    readonly externalId: string | null = null,
  ) {}
}

const e164 = (v: string | null): string | null => (v && v.startsWith('+') ? v : null);

/** How long an action waits for a call's missing events before it goes ahead without them. */
const DATA_GRACE_MS = 30000;
const POP_DATA_GRACE_MS = 3000;

/**
 * Runs CRM actions. Connectors classify failures; this class decides: retry after the
 * CRM's delay, back off, give up after the maximum age, or flag the integration.
 */
@Injectable()
export class CrmJobsProcessor implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('CrmJobs');
  private sweepTimer?: NodeJS.Timeout;

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly queue: JobQueue,
    private readonly integrations: IntegrationsService,
    private readonly runtime: ConnectorRuntime,
    private readonly agents: AgentsService,
    private readonly resolver: ContactResolver,
    private readonly links: RecordingLinks,
    private readonly planner: SyncPlanner,
    private readonly metrics: Metrics,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    for (const action of SYNC_ACTIONS) {
      this.queue.handle<SyncJob>(
        CRM_QUEUE,
        action,
        this.config.workerConcurrency,
        async (job) => this.run(job.syncId),
        (job, _info, err) => this.giveUp(job.syncId, err.message),
      );
    }
    this.queue.handle<InstallJob>(CRM_QUEUE, INSTALL_JOB, 2, async (job) =>
      this.install(job.integrationId),
    );
    this.sweepTimer = setInterval(() => void this.sweep(), this.config.sweepIntervalS * 1000 * 6);
    this.sweepTimer.unref();
  }

  onModuleDestroy(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
  }

  async run(syncId: string): Promise<void> {
    const row = await this.load(syncId);
    if (!row || row.status !== 'pending') return;
    const integration = await this.integrations.byId(row.integration_id);
    if (!integration || !integration.enabled) {
      await this.finish(row, new Outcome('skipped', 'integration disabled or removed'));
      return;
    }
    if (Date.now() - new Date(row.created_at).getTime() > this.config.crmMaxAgeS * 1000) {
      await this.finish(
        row,
        new Outcome(
          'failed',
          `gave up after ${this.config.crmMaxAgeS} s: ${row.action} never succeeded`,
        ),
      );
      this.metrics.syncDeadLettered.inc({
        connector: integration.connector,
        action: row.action,
        reason: 'max_age',
      });
      return;
    }
    if (row.not_before && new Date(row.not_before).getTime() > Date.now() + 50) {
      throw new RetryLaterError('waiting', new Date(row.not_before).getTime() - Date.now());
    }
    const live = this.runtime.forIntegration(integration);
    const staleClaim =
      row.claimed_until !== null && new Date(row.claimed_until).getTime() < Date.now();
    if (row.action === 'lead' && staleClaim) {
      // A worker died while creating this lead: it may exist. At most one lead beats a duplicate.
      await this.finish(
        row,
        new Outcome(
          'failed',
          'outcome unknown: the hub stopped while creating the lead; not retried to avoid a duplicate',
        ),
      );
      this.metrics.syncDeadLettered.inc({
        connector: integration.connector,
        action: 'lead',
        reason: 'unknown_outcome',
      });
      return;
    }
    if (!(await this.claim(row.id))) return;

    try {
      const outcome = await this.perform(row, live);
      if (outcome) await this.finish(row, outcome);
      if (outcome?.status === 'done')
        this.metrics.syncDone.inc({ connector: integration.connector, action: row.action });
    } catch (err) {
      await this.release(row.id, err);
      const next = await this.classify(err, row, integration);
      if (next) throw next;
    }
  }

  private async perform(row: SyncRow, live: LiveConnector): Promise<Outcome | null> {
    const wait = this.waitForCallData(row);
    if (wait !== null) throw new RetryLaterError('waiting for the rest of the call', wait);
    switch (row.action) {
      case 'pop':
        return this.pop(row, live);
      case 'hangup':
        return this.hangup(row, live);
      case 'lead':
        return this.lead(row, live);
      case 'log':
        return this.log(row, live);
      case 'recording':
        return this.attach(row, live);
    }
  }

  private async pop(row: SyncRow, live: LiveConnector): Promise<Outcome> {
    if (row.call_status === 'ended')
      return new Outcome('skipped', 'the call ended before the card could pop');
    const popped = new Set((row.external_id ?? '').split(',').filter(Boolean));
    const ringing = this.ringingOf(row).filter((ext) => !popped.has(ext));
    if (ringing.length === 0) return new Outcome('done', null, [...popped].join(','));
    const target = await this.target(live.integration, ringing);
    const call = await this.callInfo(row, live.integration);
    const [{ received }] = (await this.db.query(
      "SELECT MAX(received_at) AS received FROM call_events WHERE tenant_id = ? AND call_id = ? AND type = 'call.ringing'",
      [row.tenant_id, row.call_id],
    )) as { received: Date | null }[];
    if (received)
      this.metrics.popLatency.observe((Date.now() - new Date(received).getTime()) / 1000);
    await live.connector.showCall!(call, target);
    for (const ext of ringing) popped.add(ext);
    return new Outcome('done', null, [...popped].join(','));
  }

  private async hangup(row: SyncRow, live: LiveConnector): Promise<Outcome> {
    const [pop] = (await this.db.query(
      "SELECT id, status, external_id, claimed_until FROM call_sync WHERE call_pk = ? AND integration_id = ? AND action = 'pop'",
      [row.call_pk, row.integration_id],
    )) as { id: string; status: string; external_id: string | null; claimed_until: Date | null }[];
    if (
      pop &&
      pop.status === 'pending' &&
      pop.claimed_until &&
      new Date(pop.claimed_until).getTime() > Date.now()
    ) {
      throw new RetryLaterError('the pop is still being sent', 250);
    }
    const popped = (pop?.external_id ?? '').split(',').filter(Boolean);
    if (pop && pop.status === 'pending') {
      // Never sent: it must not pop now that the call has ended.
      await this.db.query(
        "UPDATE call_sync SET status = 'skipped', last_error = 'the call ended before the card could pop' WHERE id = ? AND status = 'pending' AND claimed_until IS NULL",
        [pop.id],
      );
    }
    if (popped.length === 0) return new Outcome('skipped', 'no card was shown');
    if (!live.connector.hideCall) return new Outcome('skipped', 'the CRM closes cards itself');
    await live.connector.hideCall(
      await this.callInfo(row, live.integration),
      await this.target(live.integration, popped),
    );
    return new Outcome('done');
  }

  private async lead(row: SyncRow, live: LiveConnector): Promise<Outcome> {
    const call = await this.callInfo(row, live.integration);
    const settings = live.integration.settings;
    let contact = null;
    if (
      call.customerPhone &&
      (this.runtime.supports(live.integration, 'contactLookup') ||
        this.runtime.supports(live.integration, 'responsibleAgent'))
    ) {
      contact = await this.resolver.resolve(live, call.customerPhone);
    }
    if (settings.createLeadFor === 'unknown' && contact)
      return new Outcome('skipped', 'known caller');
    if (settings.createLeadFor === 'missed' && call.result === 'answered')
      return new Outcome('skipped', 'answered');
    const created = await live.connector.createLead!(call, contact);
    return new Outcome('done', null, created.externalId);
  }

  /** Logs this call and, in the same request, other ready calls of the integration (up to the batch size). */
  private async log(row: SyncRow, live: LiveConnector): Promise<Outcome | null> {
    const others = (await this.db.query(
      `${SELECT_SYNC} WHERE s.integration_id = ? AND s.action = 'log' AND s.status = 'pending' AND s.id <> ?
         AND (s.not_before IS NULL OR s.not_before <= ?) AND (s.claimed_until IS NULL OR s.claimed_until < ?)
       ORDER BY s.id LIMIT ?`,
      [row.integration_id, row.id, sqlTime(new Date()), sqlTime(new Date()), LOG_BATCH - 1],
    )) as SyncRow[];
    const batch = [row];
    for (const other of others) {
      if (this.waitForCallData(other) === null && (await this.claim(other.id))) batch.push(other);
    }
    try {
      const calls = await Promise.all(batch.map((r) => this.callInfo(r, live.integration)));
      const outcomes = await live.connector.logCalls!(calls);
      const byCall = new Map(outcomes.map((o) => [o.callId, o]));
      for (const r of batch) {
        const o = byCall.get(r.call_id);
        const outcome = !o
          ? new Outcome('failed', 'the connector returned no outcome for this call')
          : o.ok
            ? new Outcome('done', null, o.externalId ?? null)
            : new Outcome('failed', o.error ?? 'rejected by the CRM');
        if (outcome.status === 'done')
          this.metrics.syncDone.inc({ connector: live.definition.id, action: 'log' });
        else
          this.metrics.syncDeadLettered.inc({
            connector: live.definition.id,
            action: 'log',
            reason: 'rejected',
          });
        await this.finish(r, outcome);
      }
      return null;
    } catch (err) {
      for (const r of batch.slice(1)) await this.release(r.id, err);
      throw err;
    }
  }

  private async attach(row: SyncRow, live: LiveConnector): Promise<Outcome> {
    if (!row.recording_url) return new Outcome('skipped', 'no recording');
    const [log] = (await this.db.query(
      "SELECT status FROM call_sync WHERE call_pk = ? AND integration_id = ? AND action = 'log'",
      [row.call_pk, row.integration_id],
    )) as { status: string }[];
    if (log && log.status === 'pending')
      throw new RetryLaterError('waiting for the call log', 2000);
    await live.connector.attachRecording!(await this.callInfo(row, live.integration));
    return new Outcome('done');
  }

  async install(integrationId: string): Promise<void> {
    const integration = await this.integrations.byId(integrationId);
    if (!integration || !integration.enabled || !this.runtime.supports(integration, 'install'))
      return;
    const live = this.runtime.forIntegration(integration);
    const map = await this.agents.mapFor(integration.id);
    const names = new Map(
      (await this.agents.list(integration.tenantId)).map((a) => [a.extension, a.name]),
    );
    try {
      await live.connector.install!(
        [...map].map(([extension, crmUserId]) => ({
          extension,
          crmUserId,
          name: names.get(extension) ?? undefined,
        })),
      );
      await this.integrations.setStatus(integration.id, 'active', null);
    } catch (err) {
      if (isConnectorError(err) && err.code === 'auth_invalid') {
        await this.integrations.setStatus(integration.id, 'auth_invalid', err.message);
      } else {
        await this.integrations.setStatus(
          integration.id,
          'error',
          `install failed: ${(err as Error).message}`,
        );
      }
      throw this.retryError(err);
    }
  }

  /**
   * Events may arrive in any order: a call whose end came before its start has no
   * customer number yet. Wait a little for the rest rather than send a CRM a hollow call.
   */
  private waitForCallData(row: SyncRow): number | null {
    if (row.action === 'hangup' || row.action === 'recording' || row.direction === 'internal')
      return null;
    if (e164(row.direction === 'inbound' ? row.from_number : row.to_number)) return null;
    const waitedMs = Date.now() - new Date(row.created_at).getTime();
    const graceMs = row.action === 'pop' ? POP_DATA_GRACE_MS : DATA_GRACE_MS;
    if (waitedMs >= graceMs) return null;
    return row.action === 'pop' ? 100 : 1000;
  }

  private ringingOf(row: SyncRow): string[] {
    return typeof row.ringing === 'string' ? (JSON.parse(row.ringing) as string[]) : row.ringing;
  }

  private async target(integration: Integration, extensions: string[]): Promise<PopTarget> {
    const map = await this.agents.mapFor(integration.id);
    return {
      extensions,
      crmUserIds: extensions.map((e) => map.get(e)).filter((u): u is string => u !== undefined),
    };
  }

  private async callInfo(row: SyncRow, integration: Integration): Promise<CallInfo> {
    const inbound = row.direction === 'inbound';
    const map = await this.agents.mapFor(integration.id);
    return {
      callId: row.call_id,
      direction: row.direction,
      customerPhone: e164(inbound ? row.from_number : row.to_number),
      line: e164(inbound ? row.to_number : row.from_number),
      extension: row.extension,
      crmUserId: row.extension ? (map.get(row.extension) ?? null) : null,
      ringing: this.ringingOf(row),
      status: row.call_status,
      result: row.result,
      startedAt: new Date(row.started_at),
      answeredAt: row.answered_at ? new Date(row.answered_at) : null,
      endedAt: row.ended_at ? new Date(row.ended_at) : null,
      duration: row.duration,
      recordingUrl:
        row.recording_url && integration.settings.attachRecordings
          ? this.links.link({ tenantId: row.tenant_id, callId: row.call_id })
          : null,
    };
  }

  private async load(syncId: string): Promise<SyncRow | undefined> {
    const [row] = (await this.db.query(`${SELECT_SYNC} WHERE s.id = ?`, [syncId])) as SyncRow[];
    return row;
  }

  /** Takes the action for this worker; false when another worker holds a live claim. */
  private async claim(syncId: string): Promise<boolean> {
    const now = new Date();
    const res = (await this.db.query(
      `UPDATE call_sync SET claimed_until = ?, attempts = attempts + 1
       WHERE id = ? AND status = 'pending' AND (claimed_until IS NULL OR claimed_until < ?)`,
      [sqlTime(new Date(now.getTime() + CLAIM_MS)), syncId, sqlTime(now)],
    )) as { affectedRows: number };
    return res.affectedRows === 1;
  }

  private async release(syncId: string, err: unknown): Promise<void> {
    await this.db.query('UPDATE call_sync SET claimed_until = NULL, last_error = ? WHERE id = ?', [
      this.describe(err).slice(0, 1000),
      syncId,
    ]);
  }

  private async finish(row: SyncRow, outcome: Outcome): Promise<void> {
    await this.db.query(
      `UPDATE call_sync SET status = ?, last_error = ?, external_id = COALESCE(?, external_id), claimed_until = NULL,
         done_at = IF(? = 'done', ?, done_at) WHERE id = ?`,
      [
        outcome.status,
        outcome.note,
        outcome.externalId,
        outcome.status,
        sqlTime(new Date()),
        row.id,
      ],
    );
    if (outcome.status === 'failed') {
      this.logger.warn(
        { tenantId: row.tenant_id, callId: row.call_id, action: row.action, reason: outcome.note },
        'CRM action failed',
      );
    }
  }

  /** Turns a failure into the job's next step (null: final, nothing to retry). */
  private async classify(
    err: unknown,
    row: SyncRow,
    integration: Integration,
  ): Promise<Error | null> {
    if (isConnectorError(err)) {
      if (err.code === 'rejected' || err.code === 'not_found') {
        await this.finish(row, new Outcome('failed', `${err.code}: ${err.message}`));
        this.metrics.syncDeadLettered.inc({
          connector: integration.connector,
          action: row.action,
          reason: err.code,
        });
        return null;
      }
      if (err.code === 'auth_invalid') {
        await this.integrations.setStatus(integration.id, 'auth_invalid', err.message);
      }
    }
    return this.retryError(err);
  }

  private retryError(err: unknown): Error {
    if (isConnectorError(err)) {
      if (err.code === 'rate_limited')
        return new RetryLaterError(err.message, err.retryAfterMs ?? 1000);
      // Credentials need a person: retry slowly until fixed or the maximum age passes.
      if (err.code === 'auth_invalid') return new RetryLaterError(err.message, 5 * 60 * 1000);
    }
    return err instanceof Error ? err : new Error(String(err));
  }

  private describe(err: unknown): string {
    if (err instanceof ConnectorError) return `${err.code}: ${err.message}`;
    return (err as Error)?.message ?? String(err);
  }

  private async giveUp(syncId: string, message: string): Promise<void> {
    const row = await this.load(syncId);
    if (!row || row.status !== 'pending') return;
    await this.finish(row, new Outcome('failed', `gave up: ${message}`));
  }

  /** Pending actions whose job was lost (Redis restart) are queued again. */
  async sweep(): Promise<number> {
    try {
      const stale = sqlTime(
        new Date(Date.now() - Math.max(60, this.config.sweepAfterS * 4) * 1000),
      );
      const rows = (await this.db.query(
        `SELECT id, action FROM call_sync WHERE status = 'pending' AND updated_at < ?
           AND (not_before IS NULL OR not_before < ?) AND (claimed_until IS NULL OR claimed_until < ?) LIMIT 500`,
        [stale, sqlTime(new Date()), sqlTime(new Date())],
      )) as { id: string; action: SyncAction }[];
      for (const r of rows) await this.planner.enqueue(String(r.id), r.action);
      return rows.length;
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'CRM sweep failed');
      return 0;
    }
  }
}
