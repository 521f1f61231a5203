import { Module } from '@nestjs/common';
import { TenantsModule } from '../tenants/tenants.module';
import { RetentionRepository } from './retention.repository';
import { RetentionService } from './retention.service';
import { TenantErasureController } from './tenant-erasure.controller';
import { TenantErasure } from './tenant-erasure.service';

/**
 * Removing data: the retention purge (HUB_RETENTION_DAYS) and deleting a tenant with all
 * its data. It reaches every room's tables by SQL and imports none of the rooms above
 * tenants, so it sits at the top.
 */
@Module({
  imports: [TenantsModule],
  controllers: [TenantErasureController],
  providers: [RetentionRepository, TenantErasure, RetentionService],
  exports: [RetentionService, TenantErasure],
})
export class RetentionModule {}
