import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { Clock } from '../common/clock';
import { Lifecycle } from '../common/lifecycle';
import { LockedRounds } from '../common/locked-rounds';
import { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';
import { Metrics } from '../observability/metrics.service';
import { TenantsService } from '../tenants/tenants.service';
import { noCounts, PURGE_KINDS, PurgeCounts, RetentionRepository } from './retention.repository';
import { retryingDeadlocks } from './retrying';
import { TenantErasure } from './tenant-erasure.service';

/** Calls per transaction, rows per statement. */
const BATCH = 1000;
const DAY_MS = 86_400_000;
/** The database lock one purge holds (see LockedRounds). */
export const RETENTION_LOCK = 'hub_retention:';
/**
 * A tenant deletion still unfinished this long after it began was cut short (a crash, a
 * restart); the purge finishes it. (A deletion still running meanwhile would only share it.)
 */
const RESUME_DELETION_AFTER_MS = 15 * 60_000;

export interface PurgeResult {
  /** Calls ended (or, never ended, started a day more) before this were purged; null: retention off. */
  cutoff: string | null;
  purged: PurgeCounts;
  /** Tenant deletions cut short earlier and finished now. */
  tenantDeletionsFinished: number;
}

/**
 * Data retention (HUB_RETENTION_DAYS): at boot and every HUB_RETENTION_INTERVAL_S, removes
 * the calls past the period with their events, CRM action records and connector state, and
 * audit records older than the period, in batches. One instance at a time does it: the
 * others find the lock taken and skip that round.
 */
@Injectable()
export class RetentionService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Retention');
  private readonly rounds: LockedRounds<PurgeResult>;

  constructor(
    @InjectDataSource() db: DataSource,
    private readonly repo: RetentionRepository,
    private readonly erasure: TenantErasure,
    private readonly tenants: TenantsService,
    private readonly metrics: Metrics,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    lifecycle: Lifecycle,
  ) {
    this.rounds = new LockedRounds(
      db,
      RETENTION_LOCK,
      (sql) => this.purgeRound(sql),
      this.logger,
      'retention purge',
    );
    lifecycle.onStop(() => this.rounds.stop());
  }

  private get stopping(): boolean {
    return this.rounds.stopping;
  }

  onApplicationBootstrap(): void {
    this.rounds.start(this.config.retentionIntervalS * 1000);
  }

  onModuleDestroy(): void {
    this.rounds.stop();
  }

  /**
   * One purge, after any this instance is running; null when another instance holds the
   * lock (it is purging now).
   */
  purge(): Promise<PurgeResult | null> {
    return this.rounds.run();
  }

  private async purgeRound(sql: EntityManager): Promise<PurgeResult> {
    const tenantDeletionsFinished = await this.finishDeletions();
    const days = this.config.retentionDays;
    if (days === 0) return { cutoff: null, purged: noCounts(), tenantDeletionsFinished };
    const cutoff = new Date(this.clock.nowMs() - days * DAY_MS);
    const purged = await this.purgeBefore(sql, cutoff);
    for (const kind of PURGE_KINDS) {
      if (purged[kind]) this.metrics.retentionPurged.inc({ kind }, purged[kind]);
    }
    this.logger.log(
      { retentionDays: days, cutoff: cutoff.toISOString(), purged },
      'retention purge done',
    );
    return { cutoff: cutoff.toISOString(), purged, tenantDeletionsFinished };
  }

  private async purgeBefore(sql: EntityManager, cutoff: Date): Promise<PurgeCounts> {
    const counts = noCounts();
    // A call that never ended is kept a day longer: its end may still be on its way.
    const openCutoff = new Date(cutoff.getTime() - DAY_MS);
    while (!this.stopping) {
      const calls = await this.repo.expiredCalls(sql, cutoff, openCutoff, BATCH);
      if (calls.length === 0) break;
      const removed = await retryingDeadlocks(() =>
        sql.transaction((tx) => this.repo.deleteCalls(tx, calls)),
      );
      for (const [kind, n] of Object.entries(removed)) counts[kind as keyof PurgeCounts] += n;
    }
    while (!this.stopping) {
      const n = await retryingDeadlocks(() =>
        this.repo.deleteStaleUnprocessedEvents(sql, openCutoff, BATCH),
      );
      counts.call_events += n;
      if (n === 0) break;
    }
    for (const tenantId of await this.repo.auditTenants(sql)) {
      while (!this.stopping) {
        const n = await retryingDeadlocks(() =>
          this.repo.deleteOldAudit(sql, tenantId, cutoff, BATCH),
        );
        counts.audit_log += n;
        if (n < BATCH) break;
      }
    }
    return counts;
  }

  private async finishDeletions(): Promise<number> {
    const before = new Date(this.clock.nowMs() - RESUME_DELETION_AFTER_MS);
    let finished = 0;
    for (const tenantId of await this.tenants.unfinishedDeletions(before)) {
      if (this.stopping) break;
      this.logger.warn({ tenantId }, 'finishing a tenant deletion that was cut short');
      if (await this.erasure.erase(tenantId)) finished++;
    }
    return finished;
  }
}
