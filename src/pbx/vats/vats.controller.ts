import { timingSafeEqual } from 'node:crypto';
import {
  BadRequestException,
  Body,
  Controller,
  ForbiddenException,
  HttpCode,
  Logger,
  Param,
  Post,
  Req,
  UnauthorizedException,
} from '@nestjs/common';
import { ApiConsumes, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { FastifyRequest } from 'fastify';
import type { NormalizedEvent } from '../../calls/call-event';
import { IngestService } from '../../calls/ingest.service';
import { Clock } from '../../common/clock';
import {
  MeasuredIngest,
  noteRejection,
  noteTenant,
  RejectReason,
} from '../../observability/ingress-metrics';
import { RoutingService } from '../../routing/routing.service';
import type { RouteDecision } from '../../routing/routing.types';
import type { Tenant } from '../../tenants/tenant.entity';
import { TenantsService } from '../../tenants/tenants.service';
import { PbxSourcesService } from '../pbx-sources.service';
import { SenderAllowList } from '../sender-allowlist';
import {
  parsePost,
  VatsContactDto,
  VatsEventDto,
  VatsFields,
  VatsHistoryDto,
  VatsPost,
} from './vats.dto';
import {
  contactEvents,
  eventEvents,
  parsePostTime,
  recordEvents,
  VatsMapContext,
} from './vats.mapper';

/** What the PBX reads from the answer to `cmd=contact`; `{}` lets its own routing run. */
export interface VatsContactReply {
  contact_name?: string;
  responsible?: string;
}

const SOURCES_TTL_MS = 5000;
/** A token that matches no cached source re-reads the sources at most this often. */
const RELOAD_MS = 1000;

interface VatsSourceAuth {
  sourceId: string;
  token: Buffer;
  senders: SenderAllowList | null;
}

function asFields(body: unknown): VatsFields {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new BadRequestException('body must be form fields (application/x-www-form-urlencoded)');
  }
  const fields: VatsFields = {};
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    if (typeof v === 'string') fields[k] = v;
    else if (typeof v === 'number') fields[k] = String(v);
    else if (v !== undefined && v !== null)
      throw new BadRequestException(`${k} must be a single form value`);
  }
  return fields;
}

/** A contact's name as the PBX shows it to the employee: one short line. */
function displayName(name: string | undefined): string | undefined {
  const clean = name
    ?.replace(/\p{Cc}/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 100);
  return clean || undefined;
}

export function contactReply(decision: RouteDecision | null): VatsContactReply {
  const reply: VatsContactReply = {};
  // Privacy mode: the client is named by code.
  const name = decision?.callerName ?? displayName(decision?.contact?.name);
  if (name) reply.contact_name = name;
  if (decision?.extension) reply.responsible = decision.extension;
  return reply;
}

/**
 * The "universal CRM API" of MegaFon-style virtual PBXs (spec §3.1): one CRM address the PBX
 * posts every command to, authenticated by the CRM token. `contact` is answered within the
 * routing budget with the caller's name and responsible manager; `event` pops and tracks the
 * call; `history` ends it with its result and recording link.
 */
@ApiTags('pbx')
@Controller('v1/pbx/:tenantId/vats')
export class VatsController {
  private readonly logger = new Logger('VatsController');
  private readonly cache = new Map<
    string,
    { sources: VatsSourceAuth[]; loadedAt: number; expiresAt: number }
  >();

  constructor(
    private readonly tenants: TenantsService,
    private readonly sources: PbxSourcesService,
    private readonly ingest: IngestService,
    private readonly routing: RoutingService,
    private readonly clock: Clock,
  ) {}

  @Post()
  @HttpCode(200)
  @MeasuredIngest('vats')
  @ApiConsumes('application/x-www-form-urlencoded', 'application/json')
  @ApiOkResponse({ description: 'cmd=contact: {contact_name, responsible} or {}; else {}' })
  async post(
    @Param('tenantId') tenantId: string,
    @Body() body: unknown,
    @Req() req: FastifyRequest,
  ): Promise<VatsContactReply | Record<string, never>> {
    const fields = asFields(body);
    const { tenant, source } = await this.verify(req, tenantId, fields.crm_token);
    if (source.senders && !source.senders.allows(req.ip)) {
      noteRejection(req, 'forbidden_sender');
      throw new ForbiddenException(
        `sender ${req.ip} is not in config.allowedSenders of this tenant's VATS PBX source` +
          ' (behind a proxy? see HUB_TRUST_PROXY)',
      );
    }
    const post: VatsPost = parsePost(fields);
    const ctx: VatsMapContext = {
      defaultCountry: tenant.defaultCountry,
      receivedAt: this.clock.now(),
    };
    switch (post.cmd) {
      case 'contact':
        return this.contact(tenant, post as VatsContactDto, ctx);
      case 'event':
        await this.store(tenant.id, eventEvents(post as VatsEventDto, ctx));
        return {};
      case 'history': {
        const h = post as VatsHistoryDto;
        const events = recordEvents(
          {
            ...h,
            start: parsePostTime(h.start),
            duration: Number(h.duration),
            link: h.link || undefined,
          },
          ctx,
        );
        await this.store(tenant.id, events);
        return {};
      }
      default:
        // A customer's rating has no place in the call model yet; accepted so the PBX stops.
        return {};
    }
  }

  /** Stores the call's start and answers with the caller and the manager, side by side. */
  private async contact(
    tenant: Tenant,
    post: VatsContactDto,
    ctx: VatsMapContext,
  ): Promise<VatsContactReply> {
    const stored = this.store(tenant.id, contactEvents(post, ctx));
    const steering = post.phone
      ? this.routing
          .decideForPbx(tenant, { callId: post.callid, from: post.phone, to: post.diversion })
          .then(contactReply)
      : Promise.resolve({});
    const [, reply] = await Promise.all([stored, steering]);
    return reply;
  }

  private async store(tenantId: string, events: NormalizedEvent[]): Promise<void> {
    if (events.length) await this.ingest.ingest(tenantId, events, 'vats');
  }

  /**
   * The crm_token must be the CRM token of one of the tenant's vats sources. An unknown
   * tenant, one without such a source and a wrong token get the same 401.
   */
  private async verify(
    req: FastifyRequest,
    tenantId: string,
    token: string | undefined,
  ): Promise<{ tenant: Tenant; source: VatsSourceAuth }> {
    const refuse = (reason: RejectReason, message: string): never => {
      noteRejection(req, reason);
      throw new UnauthorizedException(message);
    };
    if (!token) return refuse('unauthenticated', 'crm_token is missing');
    const mismatch = "crm_token is not the CRM token of this tenant's VATS source";
    const tenant = await this.tenants.find(tenantId);
    if (!tenant) return refuse('unknown_tenant', mismatch);
    noteTenant(req, tenant.id);
    const given = Buffer.from(token);
    let sources = await this.auth(tenantId);
    let match = sources.find((s) => sameToken(s.token, given));
    // A source added or re-keyed a moment ago is not in the cache yet: look once more, but
    // at most once a second, so a stream of wrong tokens does not become database reads.
    const cached = this.cache.get(tenantId);
    if (!match && (!cached || cached.loadedAt + RELOAD_MS <= this.clock.nowMs())) {
      this.cache.delete(tenantId);
      sources = await this.auth(tenantId);
      match = sources.find((s) => sameToken(s.token, given));
    }
    if (match) return { tenant, source: match };
    return refuse(sources.length ? 'bad_token' : 'unknown_source', mismatch);
  }

  private async auth(tenantId: string): Promise<VatsSourceAuth[]> {
    const hit = this.cache.get(tenantId);
    if (hit && hit.expiresAt > this.clock.nowMs()) return hit.sources;
    const found: VatsSourceAuth[] = [];
    for (const source of await this.sources.byType(tenantId, 'vats')) {
      const token = this.sources.credentials(source)?.crmToken;
      if (typeof token !== 'string') continue;
      try {
        found.push({
          sourceId: source.id,
          token: Buffer.from(token),
          senders: SenderAllowList.from(source.config.allowedSenders),
        });
      } catch (err) {
        this.logger.warn(
          { tenantId, sourceId: source.id, err: (err as Error).message },
          'unusable vats source',
        );
      }
    }
    if (found.length) {
      const now = this.clock.nowMs();
      this.cache.set(tenantId, { sources: found, loadedAt: now, expiresAt: now + SOURCES_TTL_MS });
    }
    return found;
  }
}

function sameToken(expected: Buffer, given: Buffer): boolean {
  return expected.length === given.length && timingSafeEqual(expected, given);
}
