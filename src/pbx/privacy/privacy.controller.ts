import {
  Body,
  Controller,
  Get,
  HttpCode,
  Param,
  Post,
  Query,
  Res,
  UseGuards,
} from '@nestjs/common';
import { ApiBearerAuth, ApiQuery, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import type { CallView } from '../../calls/calls.service';
import { PbxGuard, TenantGuard } from '../../tenants/auth.guards';
import { AuditItem, AuditQueryDto, ResolveDto, ResolveQueryDto } from './privacy.dto';
import { PrivacyService } from './privacy.service';

@ApiTags('pbx')
@Controller('v1/pbx/:tenantId')
@UseGuards(PbxGuard)
export class ResolveController {
  constructor(private readonly privacy: PrivacyService) {}

  /**
   * Privacy mode: the number behind a client code, for the dialplan to call the client through
   * the work line. `?format=text` answers the bare number.
   */
  @Post('resolve')
  @HttpCode(200)
  @ApiQuery({ name: 'format', required: false, enum: ['json', 'text'] })
  async resolve(
    @Param('tenantId') tenantId: string,
    @Query() query: ResolveQueryDto,
    @Body() dto: ResolveDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<{ number: string } | string> {
    const answer = await this.privacy.resolve(tenantId, dto);
    if (query.format === 'text') {
      void reply.type('text/plain; charset=utf-8');
      return answer.number;
    }
    return answer;
  }
}

@ApiTags('privacy')
@ApiBearerAuth()
@ApiSecurity('apiKey')
@UseGuards(TenantGuard)
@Controller('v1/tenants/:tenantId/audit')
export class AuditController {
  constructor(private readonly privacy: PrivacyService) {}

  @Get()
  async trail(
    @Param('tenantId') tenantId: string,
    @Query() query: AuditQueryDto,
  ): Promise<{ items: AuditItem[]; calls?: CallView[] }> {
    const [items, calls] = await Promise.all([
      this.privacy.trail(tenantId, query),
      this.privacy.clientCalls(tenantId, query),
    ]);
    return calls ? { items, calls } : { items };
  }
}
