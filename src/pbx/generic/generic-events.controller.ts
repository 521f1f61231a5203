import { Body, Controller, HttpCode, Param, Post, Req, UseGuards } from '@nestjs/common';
import {
  ApiBody,
  ApiHeader,
  ApiResponse,
  ApiTags,
  getSchemaPath,
  ApiExtraModels,
} from '@nestjs/swagger';
import { IngestBatchDto, IngestEventDto, IngestResultDto } from '../../calls/ingest.dto';
import { IngestResult, IngestService, parseEvents } from '../../calls/ingest.service';
import { MeasuredIngest, noteTenant } from '../../observability/ingress-metrics';
import { PbxGuard } from '../../tenants/auth.guards';
import type { HubRequest } from '../../tenants/auth.guards';
import { TenantsService } from '../../tenants/tenants.service';

@ApiTags('pbx')
@ApiExtraModels(IngestEventDto, IngestBatchDto)
@Controller('v1/pbx/:tenantId')
@UseGuards(PbxGuard)
export class GenericEventsController {
  constructor(
    private readonly ingest: IngestService,
    private readonly tenants: TenantsService,
  ) {}

  @Post('events')
  @HttpCode(202)
  @MeasuredIngest('generic')
  @ApiHeader({ name: 'X-Hub-Timestamp', required: false })
  @ApiHeader({
    name: 'X-Hub-Signature',
    required: false,
    description: 'sha256=<hex HMAC of "<timestamp>.<raw body>">',
  })
  @ApiBody({
    schema: {
      oneOf: [{ $ref: getSchemaPath(IngestEventDto) }, { $ref: getSchemaPath(IngestBatchDto) }],
    },
  })
  @ApiResponse({ status: 202, type: IngestResultDto })
  async events(
    @Param('tenantId') tenantId: string,
    @Body() body: unknown,
    @Req() req: HubRequest,
  ): Promise<IngestResult> {
    // An unknown tenant is a 404 here; a refusal from now on is counted with the tenant.
    const tenant = await this.tenants.get(tenantId);
    noteTenant(req, tenant.id);
    // Validated before any wait: a bad post is refused at once.
    const events = parseEvents(body, tenant);
    return this.ingest.ingest(tenantId, events, 'generic', 'reject', 'hold');
  }
}
