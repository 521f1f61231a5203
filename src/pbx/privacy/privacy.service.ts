import { HttpException, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { CallsService, CallView } from '../../calls/calls.service';
import { Clock } from '../../common/clock';
import { RedisService } from '../../common/redis.service';
import { sqlTime } from '../../common/sql';
import { ClientCodes } from '../../contacts/client-codes.service';
import { AgentsService } from '../../integrations/agents.service';
import { TenantsService } from '../../tenants/tenants.service';
import { PbxSourcesService } from '../pbx-sources.service';
import type { AuditItem, AuditQueryDto, ResolveDto } from './privacy.dto';

/** Resolves one extension may ask for a minute; more are refused (and audited) as a flood. */
export const RESOLVES_PER_MINUTE = 10;
const AUDIT_LIMIT = 1000;

interface AuditRow {
  at: Date;
  action: 'resolve' | 'originate';
  extension: string | null;
  client_code: string | null;
  call_id: string | null;
  granted: number;
  reason: string;
}

/** Why a resolve is refused: the HTTP status and the reason the audit keeps. */
class Refusal extends Error {
  constructor(
    readonly status: number,
    reason: string,
  ) {
    super(reason);
  }
}

/**
 * Privacy mode's way back from a client code to the number, for calling the client through the
 * work line: only for an extension of the agent map, only on a recorded call, at most
 * RESOLVES_PER_MINUTE a minute per extension. Every answer, granted or refused, is audited.
 */
@Injectable()
export class PrivacyService {
  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly tenants: TenantsService,
    private readonly agents: AgentsService,
    private readonly codes: ClientCodes,
    private readonly sources: PbxSourcesService,
    private readonly redis: RedisService,
    private readonly clock: Clock,
    private readonly calls: CallsService,
  ) {}

  /** The dialplan's question: the number behind a code, for a call the PBX says it records. */
  async resolve(tenantId: string, dto: ResolveDto): Promise<{ number: string }> {
    const recorded = dto.recorded || (await this.recordsAll(tenantId));
    return { number: await this.grant(tenantId, { ...dto, recorded }, 'resolve') };
  }

  /**
   * Click-to-call by code (the API, the console): the PBX rings the agent, then the client,
   * whose number never leaves the hub; `recorded` when the source records every call.
   */
  async numberForCall(
    tenantId: string,
    request: { extension: string; code: string; recorded: boolean },
  ): Promise<string> {
    return this.grant(tenantId, request, 'originate');
  }

  private async grant(
    tenantId: string,
    dto: Pick<ResolveDto, 'extension' | 'code' | 'callId' | 'recorded'>,
    action: 'resolve' | 'originate',
  ): Promise<string> {
    try {
      const number = await this.check(tenantId, dto);
      await this.audit(tenantId, dto, action, true, 'granted: a recorded call from an agent');
      return number;
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      await this.audit(tenantId, dto, action, false, err.message);
      throw new HttpException(err.message, err.status);
    }
  }

  private async check(
    tenantId: string,
    dto: Pick<ResolveDto, 'extension' | 'code' | 'recorded'>,
  ): Promise<string> {
    const tenant = await this.tenants.get(tenantId);
    if (!tenant.privacy?.clientCodes)
      throw new Refusal(403, 'privacy mode is off for this tenant: there are no client codes');
    if (await this.flooding(tenantId, dto.extension))
      throw new Refusal(
        429,
        `extension ${dto.extension} asked more than ${RESOLVES_PER_MINUTE} times in a minute`,
      );
    const agents = await this.agents.list(tenantId);
    if (!agents.some((a) => a.extension === dto.extension))
      throw new Refusal(403, `extension ${dto.extension} is not an agent of the agent map`);
    if (!dto.recorded)
      throw new Refusal(403, 'the call is not recorded: clients are called only on recorded calls');
    const number = await this.codes.numberOf(tenantId, dto.code);
    if (!number) throw new Refusal(404, `no client has the code ${dto.code}`);
    return number;
  }

  /** A PBX source whose config says every call is recorded. */
  private async recordsAll(tenantId: string): Promise<boolean> {
    return (await this.sources.ofTenant(tenantId)).some((s) => s.config.recordsAllCalls === true);
  }

  private async flooding(tenantId: string, extension: string): Promise<boolean> {
    const minute = Math.floor(this.clock.nowMs() / 60_000);
    const key = this.redis.key('privacy', 'resolve', tenantId, extension, String(minute));
    const n = await this.redis.client.incr(key);
    if (n === 1) await this.redis.client.pexpire(key, 61_000);
    return n > RESOLVES_PER_MINUTE;
  }

  private async audit(
    tenantId: string,
    dto: Pick<ResolveDto, 'extension' | 'code' | 'callId'>,
    action: 'resolve' | 'originate',
    granted: boolean,
    reason: string,
  ): Promise<void> {
    await this.db.query(
      `INSERT INTO audit_log (tenant_id, at, action, extension, client_code, call_id, granted, reason)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [
        tenantId,
        sqlTime(this.clock.now()),
        action,
        dto.extension,
        dto.code,
        dto.callId ?? null,
        granted ? 1 : 0,
        reason.slice(0, 200),
      ],
    );
  }

  /**
   * A client's timeline for the owner: every call of the period with its recording (by code,
   * without the number).
   */
  async clientCalls(tenantId: string, q: AuditQueryDto): Promise<CallView[] | undefined> {
    if (!q.clientCode) return undefined;
    const number = await this.codes.numberOf(tenantId, q.clientCode);
    if (!number) return [];
    const calls = await this.calls.ofClient(
      tenantId,
      number,
      q.from ? new Date(q.from) : new Date(0),
      q.to ? new Date(q.to) : new Date(this.clock.nowMs() + 86_400_000),
    );
    // The owner reviews by code; the number stays out of the answer.
    return calls.map((c) => {
      const { from, to, ...rest } = c;
      return {
        ...rest,
        from: c.direction === 'inbound' ? null : from,
        to: c.direction === 'outbound' ? null : to,
      };
    });
  }

  /** The audit trail, newest first: every resolve, by client code and period. */
  async trail(tenantId: string, q: AuditQueryDto): Promise<AuditItem[]> {
    await this.tenants.get(tenantId);
    const where = ['tenant_id = ?'];
    const args: unknown[] = [tenantId];
    if (q.clientCode) {
      where.push('client_code = ?');
      args.push(q.clientCode);
    }
    if (q.from) {
      where.push('at >= ?');
      args.push(sqlTime(q.from));
    }
    if (q.to) {
      where.push('at < ?');
      args.push(sqlTime(q.to));
    }
    const rows = (await this.db.query(
      `SELECT at, action, extension, client_code, call_id, granted, reason FROM audit_log
        WHERE ${where.join(' AND ')} ORDER BY at DESC, id DESC LIMIT ${AUDIT_LIMIT}`,
      args,
    )) as AuditRow[];
    return rows.map((r) => ({
      at: new Date(r.at).toISOString(),
      action: r.action,
      extension: r.extension,
      clientCode: r.client_code,
      callId: r.call_id,
      granted: Number(r.granted) === 1,
      reason: r.reason,
    }));
  }
}
