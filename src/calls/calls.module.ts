import { Module } from '@nestjs/common';
import { ContactsModule } from '../contacts/contacts.module';
import { TenantsModule } from '../tenants/tenants.module';
import { AnsweringNumbers } from './answering-numbers';
import { CallEventsRepository } from './call-events.repository';
import { CallListeners } from './call-listeners';
import { CallOriginator } from './call-originator';
import { CallProcessor } from './call-processor.service';
import { CallsController } from './calls.controller';
import { CallsRepository } from './calls.repository';
import { CallsService } from './calls.service';
import { ClientCodeListener } from './client-code-listener';
import { CallStream } from './call-stream';
import { IngestGate } from './ingest-gate';
import { CallWorkload } from './call-workload';
import { IngestService } from './ingest.service';

/**
 * Calls: ingest, the call state machine and its processing, the calls API. It knows no
 * CRM and no PBX vendor: those register with CallListeners and CallOriginator.
 */
const PROVIDERS = [
  CallEventsRepository,
  CallsRepository,
  CallListeners,
  AnsweringNumbers,
  CallOriginator,
  IngestService,
  IngestGate,
  CallWorkload,
  CallProcessor,
  CallsService,
  ClientCodeListener,
  CallStream,
];

@Module({
  imports: [TenantsModule, ContactsModule],
  controllers: [CallsController],
  providers: PROVIDERS,
  exports: PROVIDERS,
})
export class CallsModule {}
