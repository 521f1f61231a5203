import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Patch,
  Post,
  UseGuards,
} from '@nestjs/common';
import { ApiBearerAuth, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { TenantGuard } from '../tenants/auth.guards';
import { TenantsService } from '../tenants/tenants.service';
import type { PbxUser } from './pbx-adapter';
import { CreatePbxSourceDto, PbxSourceView, UpdatePbxSourceDto } from './pbx-sources.dto';
import { PbxSourcesService } from './pbx-sources.service';

@ApiTags('pbx-sources')
@ApiBearerAuth()
@ApiSecurity('apiKey')
@UseGuards(TenantGuard)
@Controller('v1/tenants/:tenantId/pbx-sources')
export class PbxSourcesController {
  constructor(
    private readonly sources: PbxSourcesService,
    private readonly tenants: TenantsService,
  ) {}

  @Post()
  async create(
    @Param('tenantId') tenantId: string,
    @Body() dto: CreatePbxSourceDto,
  ): Promise<PbxSourceView> {
    await this.tenants.get(tenantId);
    return this.sources.create(tenantId, dto);
  }

  @Get()
  async list(@Param('tenantId') tenantId: string): Promise<PbxSourceView[]> {
    await this.tenants.get(tenantId);
    return this.sources.list(tenantId);
  }

  @Get(':sourceId')
  async get(
    @Param('tenantId') tenantId: string,
    @Param('sourceId') id: string,
  ): Promise<PbxSourceView> {
    return this.sources.view(await this.sources.get(tenantId, id));
  }

  @Get(':sourceId/users')
  users(@Param('tenantId') tenantId: string, @Param('sourceId') id: string): Promise<PbxUser[]> {
    return this.sources.users(tenantId, id);
  }

  @Patch(':sourceId')
  update(
    @Param('tenantId') tenantId: string,
    @Param('sourceId') id: string,
    @Body() dto: UpdatePbxSourceDto,
  ): Promise<PbxSourceView> {
    return this.sources.update(tenantId, id, dto);
  }

  @Delete(':sourceId')
  @HttpCode(204)
  async remove(@Param('tenantId') tenantId: string, @Param('sourceId') id: string): Promise<void> {
    await this.sources.remove(tenantId, id);
  }
}
