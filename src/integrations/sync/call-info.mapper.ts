import { Injectable } from '@nestjs/common';
import { CallRow, ringingOf } from '../../calls/calls.repository';
import type { CallInfo, PopTarget } from '../../connector-sdk';
import { RecordingLinks } from '../../recordings/recording-links.service';
import { ClientCodes } from '../../contacts/client-codes.service';
import { TenantsService } from '../../tenants/tenants.service';
import { AgentsService } from '../agents.service';
import type { Integration } from '../integration.entity';

/** The outside numbers a connector may rely on are E.164; anything else is not handed over. */
export const e164 = (v: string | null): string | null => (v && v.startsWith('+') ? v : null);

/** The stored call as connectors see it: the agent's CRM user, the hub's recording link. */
@Injectable()
export class CallInfoMapper {
  constructor(
    private readonly agents: AgentsService,
    private readonly links: RecordingLinks,
    private readonly tenants: TenantsService,
    private readonly codes: ClientCodes,
  ) {}

  async toCallInfo(row: CallRow, integration: Integration): Promise<CallInfo> {
    const inbound = row.direction === 'inbound';
    const map = await this.agents.mapFor(integration.id);
    const customerPhone = e164(inbound ? row.from_number : row.to_number);
    const privacy = (await this.tenants.find(row.tenant_id))?.privacy?.clientCodes === true;
    const clientCode =
      privacy && customerPhone && row.direction !== 'internal'
        ? await this.codes.codeFor(row.tenant_id, customerPhone)
        : undefined;
    return {
      ...(clientCode ? { clientCode } : {}),
      callId: row.call_id,
      direction: row.direction,
      customerPhone,
      line: e164(inbound ? row.to_number : row.from_number),
      extension: row.extension,
      crmUserId: row.extension ? (map.get(row.extension) ?? null) : null,
      ringing: ringingOf(row),
      status: row.status,
      result: row.result,
      startedAt: new Date(row.started_at),
      answeredAt: row.answered_at ? new Date(row.answered_at) : null,
      endedAt: row.ended_at ? new Date(row.ended_at) : null,
      duration: row.duration,
      recordingUrl:
        row.recording_url && integration.settings.attachRecordings
          ? this.links.link({ tenantId: row.tenant_id, callId: row.call_id })
          : null,
    };
  }

  /** The agents to pop for, with their CRM users where the agent map knows them. */
  async target(integration: Integration, extensions: string[]): Promise<PopTarget> {
    const map = await this.agents.mapFor(integration.id);
    const agents = extensions.map((extension) => {
      const crmUserId = map.get(extension);
      return crmUserId === undefined ? { extension } : { extension, crmUserId };
    });
    return {
      extensions,
      crmUserIds: agents.flatMap((a) => (a.crmUserId === undefined ? [] : [a.crmUserId])),
      agents,
    };
  }
}
