import { Body, Controller, HttpCode, Param, Post, Query, Res, UseGuards } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional, ApiQuery, ApiTags } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, Length, Matches } from 'class-validator';
import type { FastifyReply } from 'fastify';
import { MeasuredRoute } from '../observability/ingress-metrics';
import { PbxGuard } from '../tenants/auth.guards';
import { RoutingService } from './routing.service';
import type { RouteDecision } from './routing.types';

export class RouteDto {
  @ApiProperty({ example: 'c-42' })
  @IsString()
  @Matches(/^[\x21-\x7e]{1,128}$/, {
    message: '$property must be 1-128 printable ASCII characters',
  })
  callId: string;

  @ApiProperty({ example: '84951234567' })
  @IsString()
  @Length(1, 64)
  from: string;

  @ApiPropertyOptional({ example: '+74957654321' })
  @IsOptional()
  @IsString()
  @Length(1, 64)
  to?: string;
}

export class RouteQueryDto {
  @IsOptional()
  @IsIn(['json', 'text'])
  format?: 'json' | 'text';
}

@ApiTags('pbx')
@Controller('v1/pbx/:tenantId')
@UseGuards(PbxGuard)
export class RoutingController {
  constructor(private readonly routing: RoutingService) {}

  /** JSON by default; ?format=text answers the bare extension (or nothing) for dialplan CURL(). */
  @Post('route')
  @HttpCode(200)
  @MeasuredRoute()
  @ApiQuery({ name: 'format', required: false, enum: ['json', 'text'] })
  async route(
    @Param('tenantId') tenantId: string,
    @Query() query: RouteQueryDto,
    @Body() dto: RouteDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<RouteDecision | string> {
    const decision = await this.routing.decide(tenantId, dto);
    if (query.format === 'text') {
      void reply.type('text/plain; charset=utf-8');
      return decision.extension ?? '';
    }
    return decision;
  }
}
