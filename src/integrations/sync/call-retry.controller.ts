import {
  Body,
  Controller,
  HttpCode,
  Injectable,
  NotFoundException,
  Param,
  Post,
  UseGuards,
} from '@nestjs/common';
import { ApiBearerAuth, ApiPropertyOptional, ApiSecurity, ApiTags } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsIn, IsOptional, IsUUID } from 'class-validator';
import { CallsRepository } from '../../calls/calls.repository';
import { Clock } from '../../common/clock';
import { TenantGuard } from '../../tenants/auth.guards';
import { IntegrationsService } from '../integrations.service';
import { CallSyncRepository } from './call-sync.repository';
import { SYNC_ACTIONS, SyncAction } from './crm-jobs';
import { SyncQueue } from './sync-queue';

export class RetryCallDto {
  @ApiPropertyOptional({ description: 'Only the actions of this integration' })
  @IsOptional()
  @IsUUID()
  integrationId?: string;

  @ApiPropertyOptional({ enum: SYNC_ACTIONS, isArray: true, description: 'Only these actions' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(SYNC_ACTIONS.length)
  @IsIn(SYNC_ACTIONS, { each: true })
  actions?: SyncAction[];
}

/** An admin's retry of a call's failed CRM actions, once whatever failed them is fixed. */
@Injectable()
export class CallRetry {
  constructor(
    private readonly calls: CallsRepository,
    private readonly ledger: CallSyncRepository,
    private readonly integrations: IntegrationsService,
    private readonly queue: SyncQueue,
    private readonly clock: Clock,
  ) {}

  async retry(tenantId: string, callId: string, dto: RetryCallDto): Promise<{ requeued: number }> {
    const call = await this.calls.find(tenantId, callId);
    if (!call) throw new NotFoundException(`call ${callId} not found`);
    // An integration of another tenant is as unknown as one that does not exist.
    if (dto.integrationId) await this.integrations.get(tenantId, dto.integrationId);
    const rows = await this.ledger.retryFailed(call.id, dto, this.clock.now());
    // A lost add is picked up by the sweeper: the rows are pending and due.
    await Promise.all(rows.map((r) => this.queue.action(r.id, r.action).catch(() => undefined)));
    return { requeued: rows.length };
  }
}

@ApiTags('calls')
@ApiBearerAuth()
@ApiSecurity('apiKey')
@UseGuards(TenantGuard)
@Controller('v1/tenants/:tenantId/calls')
export class CallRetryController {
  constructor(private readonly retries: CallRetry) {}

  /** Re-queues the call's failed CRM actions only: a done action never runs twice. */
  @Post(':callId/retry')
  @HttpCode(202)
  retry(
    @Param('tenantId') tenantId: string,
    @Param('callId') callId: string,
    @Body() dto: RetryCallDto,
  ): Promise<{ requeued: number }> {
    return this.retries.retry(tenantId, callId, dto ?? {});
  }
}
