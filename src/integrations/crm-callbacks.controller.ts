import {
  All,
  BadRequestException,
  Controller,
  Get,
  NotFoundException,
  Param,
  Query,
  Req,
  Res,
  UnprocessableEntityException,
} from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { CallOriginator } from '../calls/call-originator';
import { AgentsService } from './agents.service';
import { IntegrationsService } from './integrations.service';
import { ConnectorRuntime } from './runtime/connector-runtime.service';

const CODE = /^[\x21-\x7e]{1,2048}$/;

function connectedPage(connector: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><title>Connected</title></head><body><p>The ${connector} integration is connected. You can close this window.</p></body></html>`;
}

/**
 * Requests a CRM makes to the hub: its OAuth redirect, and callbacks such as RetailCRM's
 * makeCallUrl. The integration id in a callback path is unguessable and the connector
 * checks its own shared secret (RetailCRM's clientId) before anything happens.
 */
@ApiTags('crm')
@Controller('v1/crm/:connector')
export class CrmCallbacksController {
  constructor(
    private readonly integrations: IntegrationsService,
    private readonly runtime: ConnectorRuntime,
    private readonly originator: CallOriginator,
    private readonly agents: AgentsService,
  ) {}

  /** The OAuth redirect URI: `state` is the hub's signed reference to the integration. */
  @Get('oauth')
  async oauth(
    @Param('connector') connector: string,
    @Query() query: Record<string, string>,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    const { code, state, ...params } = query;
    if (typeof state !== 'string' || !state) throw new BadRequestException('state is required');
    if (typeof code !== 'string' || !CODE.test(code))
      throw new BadRequestException('code is required');
    await this.integrations.completeOAuth(connector, state, code, params);
    void reply.type('text/html; charset=utf-8').send(connectedPage(connector));
  }

  @All(':integrationId/:action')
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
    const result = await live.use('clickToCall').handleCallback({
      action,
      method: req.method,
      query: { ...query },
      body,
    });
    if (result.grant && result.status < 400) {
      await this.integrations.acceptGrant(integration, result.grant);
    }
    if (result.originate && result.status < 400) {
      const { crmUserId, to, onFailure } = result.originate;
      try {
        const mapped = crmUserId ? await this.agents.extensionOf(integration.id, crmUserId) : null;
        const extension = mapped ?? result.originate.extension;
        if (!extension) {
          throw new UnprocessableEntityException(
            `no extension for CRM user ${crmUserId ?? '(none)'}: map it in the agent map`,
          );
        }
        await this.originator.originate({ tenantId: integration.tenantId, extension, to });
      } catch (err) {
        await onFailure?.((err as Error).message).catch(() => undefined);
        throw err;
      }
    }
    void reply.status(result.status).send(result.body ?? '');
  }
}
