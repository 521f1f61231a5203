import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { Agent, AgentCrmUser } from './agent.entity';
import { AgentsService } from './agents.service';
import { CallSync } from './call-sync.entity';
import { ConnectorRegistry } from './connector-registry';
import { ConnectorRuntime } from './connector-runtime.service';
import { Integration } from './integration.entity';
import { ConnectorsController, IntegrationsController } from './integrations.controller';
import { IntegrationsService } from './integrations.service';
import { RateLimiter } from './rate-limiter.service';
import { ContactResolver } from '../contacts/contact-resolver.service';
import { CrmJobsProcessor } from './crm-jobs.processor';
import { RecordingLinks } from './recording-links.service';
import { SyncPlanner } from './sync-planner.service';

/** What other modules use; the job processor stays private. */
const SHARED = [
  ConnectorRegistry,
  ConnectorRuntime,
  RateLimiter,
  IntegrationsService,
  AgentsService,
  ContactResolver,
  RecordingLinks,
  SyncPlanner,
];

@Module({
  imports: [TypeOrmModule.forFeature([Integration, Agent, AgentCrmUser, CallSync])],
  controllers: [IntegrationsController, ConnectorsController],
  providers: [...SHARED, CrmJobsProcessor],
  exports: SHARED,
})
export class IntegrationsModule {}
