import { Module, OnModuleInit } from '@nestjs/common';
import { CallsModule } from '../../calls/calls.module';
import { TenantsModule } from '../../tenants/tenants.module';
import { PbxAdapters } from '../pbx-adapters';
import { PbxCoreModule } from '../pbx-core.module';
import { AsteriskSourceService } from './asterisk-source.service';
import { AsteriskOriginator } from './asterisk.originator';
import { amiPort, AsteriskCredentials, AsteriskSourceConfig } from './asterisk.schema';

/** Asterisk through AMI: one hub instance holds each source's connection; Originate for click-to-call. */
@Module({
  imports: [PbxCoreModule, CallsModule, TenantsModule],
  providers: [AsteriskSourceService, AsteriskOriginator],
})
export class AsteriskModule implements OnModuleInit {
  constructor(
    private readonly adapters: PbxAdapters,
    private readonly originator: AsteriskOriginator,
  ) {}

  onModuleInit(): void {
    this.adapters.register({
      type: 'asterisk',
      displayName: 'Asterisk (AMI)',
      configSchema: AsteriskSourceConfig,
      credentialsSchema: AsteriskCredentials,
      originator: this.originator,
      destinations: (config) => [
        { field: 'config.host', host: String(config.host), port: amiPort(config) },
      ],
    });
  }
}
