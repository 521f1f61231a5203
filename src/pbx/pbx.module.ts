import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CallsModule } from '../calls/calls.module';
import { AsteriskModule } from './asterisk/asterisk.module';
import { AsteriskSourceService } from './asterisk/asterisk-source.service';
import { ZadarmaClient, ZadarmaOriginator } from './zadarma/zadarma.client';
import { GenericEventsController } from './generic/generic-events.controller';
import { PbxSource } from './pbx-source.entity';
import { PbxSourcesController } from './pbx-sources.controller';
import { PbxSourcesService } from './pbx-sources.service';
import { IntegrationsModule } from '../integrations/integrations.module';
import { CrmCallbacksController, OriginateController } from './click-to-call.controller';
import { GenericOriginator, OriginateService } from './originate.service';
import { PBX_ORIGINATORS, PbxOriginator } from './originate.types';

@Module({
  imports: [TypeOrmModule.forFeature([PbxSource]), CallsModule, IntegrationsModule, AsteriskModule],
  controllers: [
    GenericEventsController,
    PbxSourcesController,
    OriginateController,
    CrmCallbacksController,
  ],
  providers: [
    PbxSourcesService,
    GenericOriginator,
    ZadarmaClient,
    ZadarmaOriginator,
    OriginateService,
    {
      provide: PBX_ORIGINATORS,
      useFactory: (...originators: PbxOriginator[]) => originators,
      inject: [GenericOriginator, AsteriskSourceService, ZadarmaOriginator],
    },
  ],
  exports: [PbxSourcesService, OriginateService],
})
export class PbxModule {}
