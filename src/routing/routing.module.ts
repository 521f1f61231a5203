import { Module } from '@nestjs/common';
import { ContactsModule } from '../contacts/contacts.module';
import { IntegrationsModule } from '../integrations/integrations.module';
import { TenantsModule } from '../tenants/tenants.module';
import { RoutingController } from './routing.controller';
import { RoutingService } from './routing.service';

@Module({
  imports: [IntegrationsModule, ContactsModule, TenantsModule],
  controllers: [RoutingController],
  providers: [RoutingService],
  exports: [RoutingService],
})
export class RoutingModule {}
