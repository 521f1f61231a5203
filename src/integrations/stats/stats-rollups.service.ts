import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { Lifecycle } from '../../common/lifecycle';
import { LockedRounds } from '../../common/locked-rounds';
import { AppConfig } from '../../config/config';
import { APP_CONFIG } from '../../config/config.module';
import { nextDay, StatsRepository } from './stats.repository';

/** Days summed per transaction. */
const BATCH_DAYS = 31;
/** Days summed per tenant and round: a year and some, so a round stays bounded. */
const MAX_DAYS_PER_ROUND = 400;
/** The database lock of one refresh (see LockedRounds). */
export const STATS_LOCK = 'hub_stats_rollups:';

export interface RefreshResult {
  /** Days summed for the first time, and days summed again because their calls changed. */
  built: number;
  rebuilt: number;
}

/**
 * Keeps call_stats_rollups up to date: at boot and every HUB_STATS_REFRESH_S, sums each
 * tenant's days that ended two days ago or more and were not summed yet, and sums again the
 * days marked dirty by a call written after they were summed. One instance at a time does it.
 */
@Injectable()
export class StatsRollups implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('StatsRollups');
  private readonly rounds: LockedRounds<RefreshResult>;

  constructor(
    @InjectDataSource() db: DataSource,
    private readonly repo: StatsRepository,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    lifecycle: Lifecycle,
  ) {
    this.rounds = new LockedRounds(
      db,
      STATS_LOCK,
      () => this.refreshRound(),
      this.logger,
      'summing statistics',
    );
    lifecycle.onStop(() => this.rounds.stop());
  }

  onApplicationBootstrap(): void {
    this.rounds.start(this.config.statsRefreshS * 1000);
  }

  onModuleDestroy(): void {
    this.rounds.stop();
  }

  /** One refresh, after any this instance is running; null when another instance holds the lock. */
  refresh(): Promise<RefreshResult | null> {
    return this.rounds.run();
  }

  private async refreshRound(): Promise<RefreshResult> {
    const result: RefreshResult = { built: 0, rebuilt: 0 };
    const horizon = await this.repo.horizon();
    for (const tenantId of await this.repo.tenants()) {
      if (this.rounds.stopping) break;
      const done = await this.refreshTenant(tenantId, horizon);
      result.built += done.built;
      result.rebuilt += done.rebuilt;
    }
    if (result.built + result.rebuilt > 0) this.logger.log(result, 'statistics summed');
    return result;
  }

  /** Days before `horizon` (YYYY-MM-DD, exclusive) only. */
  private async refreshTenant(tenantId: string, horizon: string): Promise<RefreshResult> {
    const state = await this.repo.state(tenantId);
    const stale = [...state.dirty.keys()].filter(
      (d) => d < horizon && (state.builtUntil === null || d < state.builtUntil),
    );
    const fresh: string[] = [];
    let day = state.builtUntil ?? (await this.repo.firstDay(tenantId));
    while (day !== null && day < horizon && fresh.length < MAX_DAYS_PER_ROUND) {
      fresh.push(day);
      day = nextDay(day);
    }
    for (let i = 0; i < stale.length && !this.rounds.stopping; i += BATCH_DAYS) {
      await this.repo.rebuild(tenantId, stale.slice(i, i + BATCH_DAYS), state.dirty, null);
    }
    for (let i = 0; i < fresh.length && !this.rounds.stopping; i += BATCH_DAYS) {
      const batch = fresh.slice(i, i + BATCH_DAYS);
      await this.repo.rebuild(tenantId, batch, state.dirty, nextDay(batch[batch.length - 1]));
    }
    return { built: fresh.length, rebuilt: stale.length };
  }
}
