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

@Module({
  imports: [TypeOrmModule.forFeature([Integration, Agent, AgentCrmUser, CallSync])],
  controllers: [IntegrationsController, ConnectorsController],
  providers: [ConnectorRegistry, ConnectorRuntime, RateLimiter, IntegrationsService, AgentsService],
  exports: [ConnectorRegistry, ConnectorRuntime, RateLimiter, IntegrationsService, AgentsService],
})
export class IntegrationsModule {}
