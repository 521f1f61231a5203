import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AdminGuard, PbxGuard, TenantGuard } from './auth.guards';
import { Tenant } from './tenant.entity';
import { TenantsController } from './tenants.controller';
import { TenantsService } from './tenants.service';

@Module({
  imports: [TypeOrmModule.forFeature([Tenant])],
  controllers: [TenantsController],
  providers: [TenantsService, AdminGuard, TenantGuard, PbxGuard],
  exports: [TenantsService, AdminGuard, TenantGuard, PbxGuard],
})
export class TenantsModule {}
