import { Controller, Delete, HttpCode, NotFoundException, Param, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { TenantAdminGuard } from '../tenants/auth.guards';
import { TenantErasure } from './tenant-erasure.service';

@ApiTags('tenants')
@ApiBearerAuth()
@Controller('v1/tenants')
export class TenantErasureController {
  constructor(private readonly erasure: TenantErasure) {}

  /** Deletes the tenant with all its data (operator only); answers once it is gone. */
  @Delete(':tenantId')
  @HttpCode(204)
  @UseGuards(TenantAdminGuard)
  async remove(@Param('tenantId') tenantId: string): Promise<void> {
    if (!(await this.erasure.erase(tenantId))) {
      throw new NotFoundException(`tenant ${tenantId} not found`);
    }
  }
}
