import { Module } from '@nestjs/common';
import { CallsModule } from '../../calls/calls.module';
import { TenantsModule } from '../../tenants/tenants.module';
import { PbxCoreModule } from '../pbx-core.module';
import { BackfillController } from './backfill.controller';
import { BackfillService } from './backfill.service';

/** Backfill: a period of a PBX's own call history, imported as events. */
@Module({
  imports: [PbxCoreModule, CallsModule, TenantsModule],
  controllers: [BackfillController],
  providers: [BackfillService],
})
export class BackfillModule {}
