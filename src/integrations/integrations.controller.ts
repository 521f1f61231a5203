import {
  BadRequestException,
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  Param,
  Patch,
  Post,
  Put,
  UseGuards,
} from '@nestjs/common';
import type { CrmUser } from '../connector-sdk';
import { ApiBearerAuth, ApiBody, ApiOkResponse, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { TenantGuard } from '../tenants/auth.guards';
import { TenantsService } from '../tenants/tenants.service';
import { AgentDto, AgentView } from './agents.dto';
import { AgentsService } from './agents.service';
import { ConnectorManifest, ConnectorRegistry } from './runtime/connector-registry';
import {
  CreateIntegrationDto,
  IntegrationTestResult,
  IntegrationView,
  UpdateIntegrationDto,
} from './integrations.dto';
import { IntegrationsService } from './integrations.service';

/** A route that takes no input refuses fields rather than ignoring them (400 naming each). */
function noBody(body: unknown): void {
  if (body === undefined || body === null) return;
  if (typeof body !== 'object' || Array.isArray(body))
    throw new BadRequestException('this request takes no body');
  const fields = Object.keys(body);
  if (fields.length) {
    throw new BadRequestException(fields.map((f) => `property ${f} should not exist`).join('; '));
  }
}

@ApiTags('integrations')
@ApiBearerAuth()
@ApiSecurity('apiKey')
@UseGuards(TenantGuard)
@Controller('v1/tenants/:tenantId')
export class IntegrationsController {
  constructor(
    private readonly integrations: IntegrationsService,
    private readonly agents: AgentsService,
    private readonly tenants: TenantsService,
  ) {}

  @Post('integrations')
  async create(
    @Param('tenantId') tenantId: string,
    @Body() dto: CreateIntegrationDto,
  ): Promise<IntegrationView> {
    await this.tenants.get(tenantId);
    return this.integrations.create(tenantId, dto);
  }

  @Get('integrations')
  async list(@Param('tenantId') tenantId: string): Promise<IntegrationView[]> {
    await this.tenants.get(tenantId);
    return this.integrations.list(tenantId);
  }

  @Get('integrations/:integrationId')
  async get(
    @Param('tenantId') tenantId: string,
    @Param('integrationId') id: string,
  ): Promise<IntegrationView> {
    return this.integrations.view(await this.integrations.get(tenantId, id));
  }

  /** The CRM's users, each with the extension the CRM or the agent map gives them. */
  @Get('integrations/:integrationId/users')
  async users(
    @Param('tenantId') tenantId: string,
    @Param('integrationId') id: string,
  ): Promise<CrmUser[]> {
    const integration = await this.integrations.get(tenantId, id);
    return this.integrations.users(integration, await this.agents.mapFor(integration.id));
  }

  /** "Test connection": the stored credentials against the CRM, now (takes no body). */
  @Post('integrations/:integrationId/test')
  @HttpCode(200)
  @ApiOkResponse({
    description:
      '{ok: true, status} when the CRM accepts the stored credentials, else {ok: false, status, ' +
      "message}; status is the integration's after the test (error becomes connected on a pass)",
  })
  test(
    @Param('tenantId') tenantId: string,
    @Param('integrationId') id: string,
    @Body() body: unknown,
  ): Promise<IntegrationTestResult> {
    noBody(body);
    return this.integrations.test(tenantId, id);
  }

  @Patch('integrations/:integrationId')
  update(
    @Param('tenantId') tenantId: string,
    @Param('integrationId') id: string,
    @Body() dto: UpdateIntegrationDto,
  ): Promise<IntegrationView> {
    return this.integrations.update(tenantId, id, dto);
  }

  @Delete('integrations/:integrationId')
  @HttpCode(204)
  async remove(
    @Param('tenantId') tenantId: string,
    @Param('integrationId') id: string,
  ): Promise<void> {
    await this.integrations.remove(tenantId, id);
  }

  @Put('agents')
  @ApiBody({ type: [AgentDto] })
  async putAgents(
    @Param('tenantId') tenantId: string,
    @Body() body: unknown,
  ): Promise<AgentView[]> {
    await this.tenants.get(tenantId);
    return this.agents.replace(tenantId, body);
  }

  @Get('agents')
  async getAgents(@Param('tenantId') tenantId: string): Promise<AgentView[]> {
    await this.tenants.get(tenantId);
    return this.agents.list(tenantId);
  }
}

@ApiTags('connectors')
@Controller('v1/connectors')
export class ConnectorsController {
  constructor(private readonly registry: ConnectorRegistry) {}

  /** Public: manifests hold no secrets and help admins fill the forms. */
  @Get()
  list(): ConnectorManifest[] {
    return this.registry.manifests();
  }
}
