import { Body, Controller, Get, HttpCode, Param, Patch, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { AdminGuard, TenantGuard } from './auth.guards';
import { CreateTenantDto, TenantView, TenantWithSecrets, UpdateTenantDto } from './tenant.dto';
import { TenantsService } from './tenants.service';

@ApiTags('tenants')
@ApiBearerAuth()
@ApiSecurity('apiKey')
@Controller('v1/tenants')
export class TenantsController {
  constructor(private readonly tenants: TenantsService) {}

  @Post()
  @UseGuards(AdminGuard)
  create(@Body() dto: CreateTenantDto): Promise<TenantWithSecrets> {
    return this.tenants.create(dto);
  }

  @Get()
  @UseGuards(AdminGuard)
  list(): Promise<TenantView[]> {
    return this.tenants.list();
  }

  @Get(':tenantId')
  @UseGuards(TenantGuard)
  async get(@Param('tenantId') tenantId: string): Promise<TenantView> {
    return this.tenants.view(await this.tenants.get(tenantId));
  }

  @Patch(':tenantId')
  @UseGuards(TenantGuard)
  update(@Param('tenantId') tenantId: string, @Body() dto: UpdateTenantDto): Promise<TenantView> {
    return this.tenants.update(tenantId, dto);
  }

  @Post(':tenantId/rotate-secrets')
  @HttpCode(200)
  @UseGuards(TenantGuard)
  rotate(@Param('tenantId') tenantId: string): Promise<TenantWithSecrets> {
    return this.tenants.rotateSecrets(tenantId);
  }
}
