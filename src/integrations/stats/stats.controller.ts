import { Controller, Get, Param, Query, UseGuards } from '@nestjs/common';
import { ApiBearerAuth, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { TenantGuard } from '../../tenants/auth.guards';
import { StatsQueryDto, StatsView } from './stats.dto';
import { StatsService } from './stats.service';

@ApiTags('calls')
@ApiBearerAuth()
@ApiSecurity('apiKey')
@UseGuards(TenantGuard)
@Controller('v1/tenants/:tenantId/stats')
export class StatsController {
  constructor(private readonly stats: StatsService) {}

  /** Calls per agent, line, local day or hour of a period (the tenant's time zone). */
  @Get()
  get(@Param('tenantId') tenantId: string, @Query() query: StatsQueryDto): Promise<StatsView> {
    return this.stats.stats(tenantId, query);
  }
}
