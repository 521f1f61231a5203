import { Module } from '@nestjs/common';
import { IntegrationsModule } from '../integrations/integrations.module';
import { CALL_CHANGE_LISTENERS, CallProcessor } from './call-processor.service';
import { CallsController } from './calls.controller';
import { CallsService } from './calls.service';
import { IngestService } from './ingest.service';

@Module({
  imports: [IntegrationsModule],
  controllers: [CallsController],
  providers: [
    IngestService,
    CallProcessor,
    CallsService,
    { provide: CALL_CHANGE_LISTENERS, useValue: [] },
  ],
  exports: [IngestService, CallProcessor, CallsService],
})
export class CallsModule {}
