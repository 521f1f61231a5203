import {
  Body,
  Controller,
  Delete,
  Get,
  Header,
  HttpCode,
  Param,
  Patch,
  Post,
  UseGuards,
} from '@nestjs/common';
import { ApiBearerAuth, ApiOkResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { TenantGuard } from '../tenants/auth.guards';
import { TenantsService } from '../tenants/tenants.service';
import type { PbxUser } from './pbx-adapter';
import {
  CreatePbxSourceDto,
  PbxSourceTypeView,
  PbxSourceView,
  PbxWebhookView,
  UpdatePbxSourceDto,
} from './pbx-sources.dto';
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

  /** What to set on the PBX side: the webhook URL and, for hub-signed sources, the secret. */
  @Get(':sourceId/webhook')
  @Header('Cache-Control', 'no-store')
  @ApiOkResponse({
    description:
      '{url, signing: "hub-signature" | "pbx" | null, secret?}: url is null for sources the hub ' +
      "connects to (asterisk); secret, the tenant's current webhookSecret, only for hub-signature",
  })
  webhook(
    @Param('tenantId') tenantId: string,
    @Param('sourceId') id: string,
  ): Promise<PbxWebhookView> {
    return this.sources.webhook(tenantId, id);
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

@ApiTags('pbx-sources')
@Controller('v1/pbx-source-types')
export class PbxSourceTypesController {
  constructor(private readonly sources: PbxSourcesService) {}

  /** Public, like GET /v1/connectors: the fields each source type takes, no secrets. */
  @Get()
  @ApiOkResponse({
    description:
      '[{type, displayName, config: FieldDescription[], credentials: FieldDescription[], ' +
      'ingress: {path, signing}, canOriginate}], one per PBX adapter, in registration order',
  })
  list(): PbxSourceTypeView[] {
    return this.sources.types();
  }
}
