import {
  Inject,
  Injectable,
  Logger,
  OnApplicationBootstrap,
  OnModuleDestroy,
} from '@nestjs/common';
import { Clock } from '../../common/clock';
import { AppConfig } from '../../config/config';
import { APP_CONFIG } from '../../config/config.module';
import { IntegrationsService } from '../integrations.service';
import { CallSyncRepository } from './call-sync.repository';
import { FailurePolicy } from './failure-policy';
import { SyncQueue } from './sync-queue';

/** Pending CRM actions whose job was lost (Redis restart, a crash between commit and add) are queued again. */
@Injectable()
export class CrmSweeper implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('CrmSweeper');
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly repo: CallSyncRepository,
    private readonly queue: SyncQueue,
    private readonly policy: FailurePolicy,
    private readonly integrations: IntegrationsService,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.sweep(), this.config.sweepIntervalS * 1000 * 6);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async sweep(): Promise<number> {
    try {
      const now = this.clock.now();
      const staleMs = Math.max(this.policy.lostAfterMs, this.config.sweepAfterS * 4000);
      const rows = await this.repo.stale(new Date(now.getTime() - staleMs), now, 500);
      for (const r of rows) await this.queue.action(r.id, r.action);
      // Installs too: one whose job was lost (Redis lost its data) would never register.
      const installs = await this.integrations.installsDue(new Date(now.getTime() - staleMs));
      for (const id of installs) await this.queue.install(id);
      return rows.length + installs.length;
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'CRM sweep failed');
      return 0;
    }
  }
}
