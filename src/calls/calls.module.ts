import { Module } from '@nestjs/common';
import { IntegrationsModule } from '../integrations/integrations.module';
import { SyncPlanner } from '../integrations/sync-planner.service';
import { CALL_CHANGE_LISTENERS, CallProcessor } from './call-processor.service';
import { CallsController } from './calls.controller';
import { RecordingFetchers } from './recording-fetchers';
import { RecordingsController } from './recordings.controller';
import { CallsService } from './calls.service';
import { IngestService } from './ingest.service';

@Module({
  imports: [IntegrationsModule],
  controllers: [CallsController, RecordingsController],
  providers: [
    IngestService,
    CallProcessor,
    CallsService,
    RecordingFetchers,
    {
      provide: CALL_CHANGE_LISTENERS,
      useFactory: (planner: SyncPlanner) => [planner],
      inject: [SyncPlanner],
    },
  ],
  exports: [IngestService, CallProcessor, CallsService, RecordingFetchers],
})
export class CallsModule {}
