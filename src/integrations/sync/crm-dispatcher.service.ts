import { Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { Clock } from '../../common/clock';
import { Lifecycle } from '../../common/lifecycle';
import { AppConfig } from '../../config/config';
import { APP_CONFIG } from '../../config/config.module';
import { JobQueue } from '../../queue/job-queue.service';
import { CRM_QUEUE, RetryLaterError } from '../../queue/queue.constants';
import { needsAuth } from '../integration.entity';
import { IntegrationsService } from '../integrations.service';
import { ConnectorRuntime } from '../runtime/connector-runtime.service';
import { RequestPriority } from '../runtime/request-priority';
import { SendingScope } from '../runtime/sending-scope';
import { CallSyncRepository } from './call-sync.repository';
import { CrmAction, Outcome } from './crm-action';
import { INSTALL_JOB, InstallJob, SYNC_ACTIONS, SyncAction, SyncJob } from './crm-jobs';
import { FailurePolicy } from './failure-policy';
import { HangupAction } from './hangup.action';
import { InstallAction } from './install.action';
import { LeadAction } from './lead.action';
import { LogAction } from './log.action';
import { PopAction } from './pop.action';
import { RecordingAction } from './recording.action';
import { SyncLedger } from './sync-ledger.service';

/**
 * Runs CRM action jobs: loads the row, checks what holds for every action (integration on,
 * connected, not too old, due), claims it, lets the action send it, and hands any failure
 * to the failure policy.
 */
@Injectable()
export class CrmDispatcher implements OnApplicationBootstrap {
  private readonly logger = new Logger('CrmDispatcher');
  private readonly actions: Record<SyncAction, CrmAction>;
  /** Actions this instance has claimed and is sending now. */
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly queue: JobQueue,
    private readonly repo: CallSyncRepository,
    private readonly ledger: SyncLedger,
    private readonly policy: FailurePolicy,
    private readonly integrations: IntegrationsService,
    private readonly runtime: ConnectorRuntime,
    private readonly install: InstallAction,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    pop: PopAction,
    hangup: HangupAction,
    lead: LeadAction,
    log: LogAction,
    recording: RecordingAction,
    lifecycle: Lifecycle,
  ) {
    this.actions = { pop, hangup, lead, log, recording };
    // Out of shutdown time: another instance takes these now, not when their claims lapse.
    // A create among them that may have been sent is reconciled there (sent_at is kept).
    lifecycle.onForcedStop(() => this.repo.releaseClaims([...this.inFlight]));
  }

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
    this.queue.handle<InstallJob>(
      CRM_QUEUE,
      INSTALL_JOB,
      2,
      async (job, info) => this.install.run(job.integrationId, info.attemptsMade),
      // Not reached in practice (retries end by age in the action); the status says why.
      (job) => this.integrations.installSettled(job.integrationId, this.clock.now()),
    );
  }

  async run(syncId: string): Promise<void> {
    const job = await this.repo.load(syncId);
    if (!job) {
      // Its call, integration or tenant was deleted (or purged) after the job was queued.
      this.logger.log({ syncId }, 'CRM action no longer exists; job dropped');
      return;
    }
    if (job.sync.status !== 'pending') return;
    const { sync } = job;
    const integration = await this.integrations.byId(sync.integration_id);
    if (!integration || !integration.enabled) {
      await this.ledger.finish(
        job,
        integration?.connector ?? 'unknown',
        Outcome.skipped('integration disabled or removed'),
      );
      return;
    }
    // Waits, and does not age, until an admin connects the integration again.
    if (needsAuth(integration)) {
      throw new RetryLaterError(
        'the integration needs to be connected again',
        this.policy.reauthWaitMs,
      );
    }
    const now = this.clock.nowMs();
    if (this.policy.expired(sync, now)) {
      await this.ledger.finish(
        job,
        integration.connector,
        Outcome.failed(this.policy.expiredReason(sync.action), 'max_age'),
      );
      return;
    }
    if (sync.not_before && new Date(sync.not_before).getTime() > now + 50) {
      throw new RetryLaterError('waiting', new Date(sync.not_before).getTime() - now);
    }
    const action = this.actions[sync.action];
    const wait = this.ledger.dataWait(job);
    if (wait !== null) throw new RetryLaterError('waiting for the rest of the call', wait);
    if (!(await this.ledger.claim(sync.id))) return;

    const live = this.runtime.forIntegration(integration);
    this.inFlight.add(sync.id);
    try {
      const perform = () =>
        RequestPriority.run(sync.action === 'pop', () => action.perform({ ...job, live }));
      // A create that may have left the hub is in doubt after a crash: the row says so,
      // and the action reconciles with the CRM before creating again.
      const outcome = this.policy.tracksSending(sync.action)
        ? await SendingScope.run(() => this.ledger.markSent(sync.id), perform)
        : await perform();
      if (outcome) await this.ledger.finish(job, integration.connector, outcome);
    } catch (err) {
      const decision = this.policy.decide(err, sync.failures + 1);
      await this.ledger.release(
        sync.id,
        err,
        decision.kind !== 'wait',
        decision.kind === 'fail' ? null : decision.delayMs,
      );
      if (err instanceof RetryLaterError) throw err;
      switch (decision.kind) {
        case 'fail':
          await this.ledger.finish(
            job,
            integration.connector,
            Outcome.failed(decision.reason, decision.metric),
          );
          return;
        case 'reauth':
          await this.integrations.setStatus(integration.id, 'needs_reauth', decision.reason);
          throw new RetryLaterError(decision.reason, decision.delayMs);
        case 'retry':
        case 'wait':
          throw new RetryLaterError(decision.reason, decision.delayMs);
      }
    } finally {
      this.inFlight.delete(sync.id);
    }
  }

  private async giveUp(syncId: string, message: string): Promise<void> {
    const job = await this.repo.load(syncId);
    if (!job || job.sync.status !== 'pending') return;
    const integration = await this.integrations.byId(job.sync.integration_id);
    await this.ledger.finish(
      job,
      integration?.connector ?? 'unknown',
      Outcome.failed(`gave up: ${message}`, 'attempts'),
    );
  }
}
