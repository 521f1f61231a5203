import { Body, Controller, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
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
import { Metrics } from '../../observability/metrics.service';
import { PbxGuard } from '../../tenants/auth.guards';
import { TenantsService } from '../../tenants/tenants.service';

@ApiTags('pbx')
@ApiExtraModels(IngestEventDto, IngestBatchDto)
@Controller('v1/pbx/:tenantId')
@UseGuards(PbxGuard)
export class GenericEventsController {
  constructor(
    private readonly ingest: IngestService,
    private readonly tenants: TenantsService,
    private readonly metrics: Metrics,
  ) {}

  @Post('events')
  @HttpCode(202)
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
  async events(@Param('tenantId') tenantId: string, @Body() body: unknown): Promise<IngestResult> {
    const tenant = await this.tenants.get(tenantId);
    let events;
    try {
      events = parseEvents(body, tenant);
    } catch (err) {
      this.metrics.eventsRejected.inc({ source: 'generic', reason: 'invalid' });
      throw err;
    }
    return this.ingest.ingest(tenantId, events, 'generic');
  }
}
