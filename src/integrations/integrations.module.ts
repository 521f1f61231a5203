import { Module, OnModuleInit } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CallsModule } from '../calls/calls.module';
import { CallsService } from '../calls/calls.service';
import { ContactsModule } from '../contacts/contacts.module';
import { RecordingsModule } from '../recordings/recordings.module';
import { TenantsModule } from '../tenants/tenants.module';
import { AgentsRepository } from './agents.repository';
import { AgentsService } from './agents.service';
import { CrmCallbacksController } from './crm-callbacks.controller';
import { Integration } from './integration.entity';
import { ConnectorsController, IntegrationsController } from './integrations.controller';
import { IntegrationsRepository } from './integrations.repository';
import { IntegrationsService } from './integrations.service';
import { ConnectorCallStateRepository } from './runtime/connector-call-state.repository';
import { ConnectorRegistry } from './runtime/connector-registry';
import { ConnectorRuntime } from './runtime/connector-runtime.service';
import { CredentialBox } from './runtime/credential-box';
import { OAuthState } from './runtime/oauth-state';
import { RateLimiter } from './runtime/rate-limiter.service';
import { TokenVaults } from './runtime/token-vault';
import { CallInfoMapper } from './sync/call-info.mapper';
import { CallRetry, CallRetryController } from './sync/call-retry.controller';
import { StatsController } from './stats/stats.controller';
import { StatsRollups } from './stats/stats-rollups.service';
import { StatsRepository } from './stats/stats.repository';
import { StatsService } from './stats/stats.service';
import { CallSyncRepository } from './sync/call-sync.repository';
import { CrmDispatcher } from './sync/crm-dispatcher.service';
import { CrmSweeper } from './sync/crm-sweeper.service';
import { FailurePolicy } from './sync/failure-policy';
import { HangupAction } from './sync/hangup.action';
import { InstallAction } from './sync/install.action';
import { LeadAction } from './sync/lead.action';
import { LogAction } from './sync/log.action';
import { PopAction } from './sync/pop.action';
import { RecordingAction } from './sync/recording.action';
import { SyncLedger } from './sync/sync-ledger.service';
import { SyncPlanner } from './sync/sync-planner.service';
import { SyncQueue } from './sync/sync-queue';
import { CallFeed } from './widget/call-feed.service';
import { WidgetController } from './widget/widget.controller';

/** What the rooms above (routing, PBX adapters) use. */
const SHARED = [ConnectorRegistry, ConnectorRuntime, IntegrationsService, AgentsService];

/**
 * CRM integrations: their CRUD and agent map, the connector runtime (auth, rate limits,
 * per-call state), the CRM actions planned from call changes, and the CRM's callbacks.
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([Integration]),
    TenantsModule,
    CallsModule,
    ContactsModule,
    RecordingsModule,
  ],
  controllers: [
    IntegrationsController,
    ConnectorsController,
    CrmCallbacksController,
    WidgetController,
    CallRetryController,
    StatsController,
  ],
  providers: [
    CallFeed,
    ...SHARED,
    IntegrationsRepository,
    AgentsRepository,
    ConnectorCallStateRepository,
    CredentialBox,
    OAuthState,
    RateLimiter,
    TokenVaults,
    CallSyncRepository,
    CallInfoMapper,
    FailurePolicy,
    SyncLedger,
    SyncQueue,
    SyncPlanner,
    PopAction,
    HangupAction,
    LeadAction,
    LogAction,
    RecordingAction,
    InstallAction,
    CrmDispatcher,
    CrmSweeper,
    CallRetry,
    StatsService,
    StatsRepository,
    StatsRollups,
  ],
  exports: SHARED,
})
export class IntegrationsModule implements OnModuleInit {
  constructor(
    private readonly calls: CallsService,
    private readonly ledger: CallSyncRepository,
  ) {}

  /** The call detail shows, per integration, the state of each CRM action. */
  onModuleInit(): void {
    // "Every call whose CRM log failed": a call with such an action, of any integration.
    this.calls.useActionFilter((action, status) => ({
      sql: `EXISTS (SELECT 1 FROM call_sync s WHERE s.call_pk = calls.id AND s.status = ?${
        action ? ' AND s.action = ?' : ''
      })`,
      params: action ? [status, action] : [status],
    }));
    this.calls.addDetailSection('integrations', async (tx, call) => {
      const byIntegration = new Map<
        string,
        { integrationId: string; connector: string; actions: Record<string, unknown> }
      >();
      for (const a of await this.ledger.forCall(tx, call.id)) {
        const entry = byIntegration.get(a.integrationId) ?? {
          integrationId: a.integrationId,
          connector: a.connector,
          actions: {},
        };
        entry.actions[a.action] = {
          status: a.status,
          externalId: a.externalId,
          attempts: a.attempts,
          lastError: a.lastError,
          updatedAt: a.updatedAt.toISOString(),
        };
        byIntegration.set(a.integrationId, entry);
      }
      return [...byIntegration.values()];
    });
  }
}
