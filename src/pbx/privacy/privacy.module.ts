import { Module } from '@nestjs/common';
import { CallsModule } from '../../calls/calls.module';
import { ContactsModule } from '../../contacts/contacts.module';
import { IntegrationsModule } from '../../integrations/integrations.module';
import { TenantsModule } from '../../tenants/tenants.module';
import { PbxCoreModule } from '../pbx-core.module';
import { AuditController, ResolveController } from './privacy.controller';

/** Privacy mode's resolve (client code → number, for recorded calls of agents) and audit. */
@Module({
  imports: [PbxCoreModule, TenantsModule, ContactsModule, IntegrationsModule, CallsModule],
  controllers: [ResolveController, AuditController],
})
export class PrivacyModule {}
