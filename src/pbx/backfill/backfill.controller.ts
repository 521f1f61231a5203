import { Body, Controller, Get, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { TenantGuard } from '../../tenants/auth.guards';
import { BackfillDto, BackfillView } from './backfill.dto';
import { BackfillService } from './backfill.service';

@ApiTags('pbx-sources')
@ApiBearerAuth()
@ApiSecurity('apiKey')
@UseGuards(TenantGuard)
@Controller('v1/tenants/:tenantId')
export class BackfillController {
  constructor(private readonly backfills: BackfillService) {}

  /** Imports the PBX's own call history of a period (sources that keep one: zadarma, vats). */
  @Post('pbx-sources/:sourceId/backfill')
  @HttpCode(202)
  start(
    @Param('tenantId') tenantId: string,
    @Param('sourceId') sourceId: string,
    @Body() body: BackfillDto,
  ): Promise<BackfillView> {
    return this.backfills.start(tenantId, sourceId, body);
  }

  @Get('backfills/:backfillId')
  get(@Param('tenantId') tenantId: string, @Param('backfillId') id: string): Promise<BackfillView> {
    return this.backfills.get(tenantId, id);
  }
}
