import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CallsModule } from '../calls/calls.module';
import { GenericEventsController } from './generic/generic-events.controller';
import { PbxSource } from './pbx-source.entity';
import { PbxSourcesController } from './pbx-sources.controller';
import { PbxSourcesService } from './pbx-sources.service';

@Module({
  imports: [TypeOrmModule.forFeature([PbxSource]), CallsModule],
  controllers: [GenericEventsController, PbxSourcesController],
  providers: [PbxSourcesService],
  exports: [PbxSourcesService],
})
export class PbxModule {}
