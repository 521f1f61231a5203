import { Module, OnModuleInit } from '@nestjs/common';
import { CallsModule } from '../calls/calls.module';
import { CallsService } from '../calls/calls.service';
import { RecordingFetchers } from './recording-fetchers';
import { Mp3Transcoder } from './mp3-transcoder';
import { RecordingLinks } from './recording-links.service';
import { RecordingsController } from './recordings.controller';

/**
 * Recordings: the signed links CRMs receive, the public endpoint that plays them, and the
 * fetchers PBX adapters register for references that need their API (Zadarma).
 */
@Module({
  imports: [CallsModule],
  controllers: [RecordingsController],
  providers: [RecordingLinks, RecordingFetchers, Mp3Transcoder],
  exports: [RecordingLinks, RecordingFetchers],
})
export class RecordingsModule implements OnModuleInit {
  constructor(
    private readonly calls: CallsService,
    private readonly links: RecordingLinks,
  ) {}

  onModuleInit(): void {
    this.calls.useRecordingLinks((ref) => this.links.link(ref));
  }
}
