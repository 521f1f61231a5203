import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AdminGuard, PbxGuard, TenantAdminGuard, TenantGuard } from './auth.guards';
import { TenantKeysController } from './tenant-keys.controller';
import { TenantKeysRepository } from './tenant-keys.repository';
import { TenantKeysService } from './tenant-keys.service';
import { RequestLimiter } from './request-limiter.service';
import { Tenant } from './tenant.entity';
import { TenantsController } from './tenants.controller';
import { TenantsService } from './tenants.service';

@Module({
  imports: [TypeOrmModule.forFeature([Tenant])],
  controllers: [TenantsController, TenantKeysController],
  providers: [
    TenantsService,
    TenantKeysRepository,
    TenantKeysService,
    AdminGuard,
    TenantGuard,
    TenantAdminGuard,
    PbxGuard,
    RequestLimiter,
  ],
  exports: [
    RequestLimiter,
    TenantsService,
    TenantKeysService,
    AdminGuard,
    TenantGuard,
    TenantAdminGuard,
    PbxGuard,
  ],
})
export class TenantsModule {}
