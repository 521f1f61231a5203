import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { CallsModule } from '../../calls/calls.module';
import { PbxSource } from '../pbx-source.entity';
import { PbxSourcesService } from '../pbx-sources.service';
import { AsteriskSourceService } from './asterisk-source.service';

/**
 * Asterisk AMI ingress and click-to-call. It provides its own (stateless)
 * PbxSourcesService instead of importing PbxModule, so that PbxModule can import
 * this module to collect AsteriskSourceService as a PBX originator without a cycle.
 */
@Module({
  imports: [TypeOrmModule.forFeature([PbxSource]), CallsModule],
  providers: [PbxSourcesService, AsteriskSourceService],
  exports: [AsteriskSourceService],
})
export class AsteriskModule {}
