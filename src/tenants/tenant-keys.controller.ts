import { Body, Controller, Delete, Get, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { TenantGuard } from './auth.guards';
import { CreateTenantKeyDto, TenantKeyView, TenantKeyWithSecret } from './tenant-keys.dto';
import { TenantKeysService } from './tenant-keys.service';

/**
 * Scoped keys of a tenant. Managed with the admin token or the tenant's full apiKey; a pbx
 * key gets 403 here (TenantGuard), as on every other management route.
 */
@ApiTags('tenants')
@ApiBearerAuth()
@ApiSecurity('apiKey')
@UseGuards(TenantGuard)
@Controller('v1/tenants/:tenantId/keys')
export class TenantKeysController {
  constructor(private readonly keys: TenantKeysService) {}

  /** The key is in this answer only; the hub keeps its SHA-256. */
  @Post()
  create(
    @Param('tenantId') tenantId: string,
    @Body() dto: CreateTenantKeyDto,
  ): Promise<TenantKeyWithSecret> {
    return this.keys.create(tenantId, dto);
  }

  @Get()
  list(@Param('tenantId') tenantId: string): Promise<TenantKeyView[]> {
    return this.keys.list(tenantId);
  }

  @Delete(':keyId')
  @HttpCode(204)
  revoke(@Param('tenantId') tenantId: string, @Param('keyId') keyId: string): Promise<void> {
    return this.keys.revoke(tenantId, keyId);
  }
}
