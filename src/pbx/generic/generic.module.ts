import { Module, OnModuleInit } from '@nestjs/common';
import { CallsModule } from '../../calls/calls.module';
import { TenantsModule } from '../../tenants/tenants.module';
import { PbxAdapters } from '../pbx-adapters';
import { PbxCoreModule } from '../pbx-core.module';
import { GenericEventsController } from './generic-events.controller';
import { GenericOriginator } from './generic.originator';
import { GenericSourceConfig } from './generic.schema';

/** Any PBX that can POST JSON: events in the hub's own format, click-to-call by signed POST. */
@Module({
  imports: [PbxCoreModule, CallsModule, TenantsModule],
  controllers: [GenericEventsController],
  providers: [GenericOriginator],
})
export class GenericModule implements OnModuleInit {
  constructor(
    private readonly adapters: PbxAdapters,
    private readonly originator: GenericOriginator,
  ) {}

  onModuleInit(): void {
    this.adapters.register({
      type: 'generic',
      displayName: 'Any PBX that POSTs JSON events',
      configSchema: GenericSourceConfig,
      originator: this.originator,
      // Events in the hub's own format, signed with the tenant's webhook secret.
      ingress: { path: 'events', signing: 'hub-signature' },
    });
  }
}
