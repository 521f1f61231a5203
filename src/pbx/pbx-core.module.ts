import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CallsModule } from '../calls/calls.module';
import { IntegrationsModule } from '../integrations/integrations.module';
import { ContactsModule } from '../contacts/contacts.module';
import { TenantsModule } from '../tenants/tenants.module';
import { OriginateService } from './originate.service';
import { PbxAdapters } from './pbx-adapters';
import { PbxSource } from './pbx-source.entity';
import { PbxSourcesController, PbxSourceTypesController } from './pbx-sources.controller';
import { PbxSourcesService } from './pbx-sources.service';
import { PrivacyService } from './privacy/privacy.service';

/**
 * What every PBX adapter builds on: the sources, the adapter registry, click-to-call, and
 * privacy mode's way from a client code to a number (which click-to-call by code needs).
 */
@Module({
  imports: [
    TypeOrmModule.forFeature([PbxSource]),
    TenantsModule,
    CallsModule,
    IntegrationsModule,
    ContactsModule,
  ],
  controllers: [PbxSourcesController, PbxSourceTypesController],
  providers: [PbxAdapters, PbxSourcesService, OriginateService, PrivacyService],
  exports: [PbxAdapters, PbxSourcesService, PrivacyService],
})
export class PbxCoreModule {}
