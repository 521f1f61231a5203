import {
  BadRequestException,
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
import type { FastifyReply } from 'fastify';
import { ApiBearerAuth, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { TenantGuard } from '../tenants/auth.guards';
import { TenantsService } from '../tenants/tenants.service';
import { CallOriginator } from './call-originator';
import { CallStream } from './call-stream';
import { ExportCallsQueryDto, ListCallsQueryDto, OriginateDto } from './calls.dto';
import { CallDetailView, CallsService, CallView } from './calls.service';

@ApiTags('calls')
@ApiBearerAuth()
@ApiSecurity('apiKey')
@UseGuards(TenantGuard)
@Controller('v1/tenants/:tenantId/calls')
export class CallsController {
  constructor(
    private readonly calls: CallsService,
    private readonly tenants: TenantsService,
    private readonly originator: CallOriginator,
    private readonly liveCalls: CallStream,
  ) {}

  @Get()
  async list(
    @Param('tenantId') tenantId: string,
    @Query() query: ListCallsQueryDto,
  ): Promise<{ items: CallView[]; nextCursor: string | null }> {
    await this.tenants.get(tenantId);
    return this.calls.list(tenantId, query);
  }

  /**
   * Server-sent events: one `call` event (the call as in the list) whenever a call of the
   * tenant changes, for as long as the stream is open.
   */
  @Get('stream')
  async stream(@Param('tenantId') tenantId: string, @Res() reply: FastifyReply): Promise<void> {
    await this.tenants.get(tenantId);
    const raw = reply.raw;
    let open = true;
    // Subscribed before the answer starts, so no change after it is missed.
    const stop = await this.liveCalls.watch(tenantId, (call) => {
      if (open) raw.write(`event: call\ndata: ${JSON.stringify(call)}\n\n`);
    });
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    raw.write('retry: 3000\n\n');
    const keepalive = setInterval(() => raw.write(': ping\n\n'), 15_000);
    keepalive.unref();
    raw.on('close', () => {
      open = false;
      clearInterval(keepalive);
      stop();
    });
  }

  /** The call list of a period as CSV (the list's filters; at most 100,000 calls). */
  @Get('export.csv')
  async exportCsv(
    @Param('tenantId') tenantId: string,
    @Query() query: ExportCallsQueryDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<string> {
    await this.tenants.get(tenantId);
    void reply
      .type('text/csv; charset=utf-8')
      .header('content-disposition', 'attachment; filename="calls.csv"');
    return this.calls.exportCsv(tenantId, query);
  }

  /** Click-to-call through the tenant's PBX: the agent's phone rings first, then the number. */
  @Post('originate')
  @HttpCode(202)
  originate(
    @Param('tenantId') tenantId: string,
    @Body() dto: OriginateDto,
  ): Promise<{ requestId: string }> {
    if (dto.to !== undefined && dto.code !== undefined)
      throw new BadRequestException('give to or code, not both');
    return this.originator.originate({
      tenantId,
      extension: dto.extension,
      to: dto.to,
      code: dto.code,
    });
  }

  @Get(':callId')
  async detail(
    @Param('tenantId') tenantId: string,
    @Param('callId') callId: string,
  ): Promise<CallDetailView> {
    await this.tenants.get(tenantId);
    return this.calls.detail(tenantId, callId);
  }
}
