import {
  All,
  Body,
  Controller,
  HttpCode,
  NotFoundException,
  Param,
  Post,
  Query,
  Req,
  Res,
  UseGuards,
} from '@nestjs/common';
import { ApiBearerAuth, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { OriginateDto } from '../calls/calls.dto';
import { ConnectorRuntime } from '../integrations/connector-runtime.service';
import { IntegrationsService } from '../integrations/integrations.service';
import { TenantGuard } from '../tenants/auth.guards';
import { OriginateService } from './originate.service';

@ApiTags('calls')
@ApiBearerAuth()
@ApiSecurity('apiKey')
@UseGuards(TenantGuard)
@Controller('v1/tenants/:tenantId/calls')
export class OriginateController {
  constructor(private readonly originate: OriginateService) {}

  @Post('originate')
  @HttpCode(202)
  start(
    @Param('tenantId') tenantId: string,
    @Body() dto: OriginateDto,
  ): Promise<{ requestId: string }> {
    return this.originate.originate(tenantId, dto.extension, dto.to);
  }
}

/**
 * Requests a CRM makes to the hub (RetailCRM's makeCallUrl and changeUserStatusUrl).
 * The integration id in the path is unguessable and the connector checks its own
 * shared secret (RetailCRM's clientId) before anything happens.
 */
@ApiTags('crm')
@Controller('v1/crm/:connector/:integrationId')
export class CrmCallbacksController {
  constructor(
    private readonly integrations: IntegrationsService,
    private readonly runtime: ConnectorRuntime,
    private readonly originate: OriginateService,
  ) {}

  @All(':action')
  async callback(
    @Param('connector') connector: string,
    @Param('integrationId') integrationId: string,
    @Param('action') action: string,
    @Query() query: Record<string, string>,
    @Req() req: FastifyRequest,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const integration = await this.integrations.byId(integrationId);
    if (!integration || integration.connector !== connector || !integration.enabled) {
      throw new NotFoundException('no such integration');
    }
    if (!this.runtime.supports(integration, 'clickToCall'))
      throw new NotFoundException('no such callback');
    const live = this.runtime.forIntegration(integration);
    const body =
      req.body && typeof req.body === 'object' ? (req.body as Record<string, unknown>) : {};
    const result = await live.connector.handleCallback!({
      action,
      method: req.method,
      query: { ...query },
      body,
    });
    if (result.originate && result.status < 400) {
      await this.originate.originate(
        integration.tenantId,
        result.originate.extension,
        result.originate.to,
      );
    }
    void reply.status(result.status).send(result.body ?? '');
  }
}
