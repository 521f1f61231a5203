import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CallsModule } from '../calls/calls.module';
import { IntegrationsModule } from '../integrations/integrations.module';
import { TenantsModule } from '../tenants/tenants.module';
import { OriginateService } from './originate.service';
import { PbxAdapters } from './pbx-adapters';
import { PbxSource } from './pbx-source.entity';
import { PbxSourcesController } from './pbx-sources.controller';
import { PbxSourcesService } from './pbx-sources.service';

/** What every PBX adapter builds on: the sources, the adapter registry, click-to-call. */
@Module({
  imports: [TypeOrmModule.forFeature([PbxSource]), TenantsModule, CallsModule, IntegrationsModule],
  controllers: [PbxSourcesController],
  providers: [PbxAdapters, PbxSourcesService, OriginateService],
  exports: [PbxAdapters, PbxSourcesService],
})
export class PbxCoreModule {}
