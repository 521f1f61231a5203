import {
  BadRequestException,
  Body,
  Controller,
  ForbiddenException,
  Get,
  Headers,
  HttpCode,
  Logger,
  Param,
  Post,
  Query,
  Req,
  Res,
  UnauthorizedException,
} from '@nestjs/common';
import { ApiConsumes, ApiHeader, ApiOkResponse, ApiQuery, ApiTags } from '@nestjs/swagger';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { IngestService } from '../../calls/ingest.service';
import { Clock } from '../../common/clock';
import {
  MeasuredIngest,
  noteRejection,
  noteTenant,
  RejectReason,
} from '../../observability/ingress-metrics';
import { RoutingService } from '../../routing/routing.service';
import type { RouteDecision, RouteInput } from '../../routing/routing.types';
import type { Tenant } from '../../tenants/tenant.entity';
import { TenantsService } from '../../tenants/tenants.service';
import { PbxSourcesService } from '../pbx-sources.service';
import { SenderAllowList } from '../sender-allowlist';
import { accountOf } from './zadarma.client';
import { SourceAccount, ZadarmaRecordings } from './zadarma-recordings';
import {
  MappedNotification,
  mapNotification,
  notificationSkewProblem,
  recordingEvent,
} from './zadarma.mapper';
import { notificationEvent, parseNotification, ZadarmaFields } from './zadarma.dto';
import { checkWebhookSignature, ZadarmaEvent } from './zadarma-signature';

/** What Zadarma reads from the reply to NOTIFY_START / NOTIFY_IVR; `{}` lets its scenario run. */
export interface ZadarmaReply {
  redirect?: string;
  return_timeout?: number;
  caller_name?: string;
}

/**
 * Seconds the manager's phone rings before Zadarma returns the call to the configured menu.
 * Without it a redirect to a manager who is away would never fall back (spec §1.5: "redirect +
 * return_timeout 20 so the call falls back to the normal menu").
 */
export const RETURN_TIMEOUT_S = 20;
const ECHO_PATTERN = /^[A-Za-z0-9._~-]{1,128}$/;
const SECRETS_TTL_MS = 5000;

/** A zadarma source as the ingress checks it: its account and where it may send from. */
interface ZadarmaSource extends SourceAccount {
  senders: SenderAllowList | null;
}

function asFields(body: unknown): ZadarmaFields {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new BadRequestException(
      'body must be form fields (application/x-www-form-urlencoded or multipart/form-data)',
    );
  }
  return body as ZadarmaFields;
}

/** A SIP display name: no control characters or quotes, short. */
function callerName(name: string | undefined): string | undefined {
  const clean = name
    ?.replace(/[\p{Cc}"\\]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 64);
  return clean || undefined;
}

export function replyFor(decision: RouteDecision | null): ZadarmaReply {
  // Zadarma redirects to extensions (3 digits); anything else would break the call's scenario.
  if (!decision?.extension || !/^\d{1,6}$/.test(decision.extension)) return {};
  const reply: ZadarmaReply = { redirect: decision.extension, return_timeout: RETURN_TIMEOUT_S };
  // Privacy mode: the code, never the contact's name or number.
  const name = decision.callerName ?? callerName(decision.contact?.name);
  if (name) reply.caller_name = name;
  return reply;
}

@ApiTags('pbx')
@Controller('v1/pbx/:tenantId/zadarma')
export class ZadarmaController {
  private readonly logger = new Logger('ZadarmaController');
  private readonly secrets = new Map<string, { sources: ZadarmaSource[]; expiresAt: number }>();

  constructor(
    private readonly tenants: TenantsService,
    private readonly sources: PbxSourcesService,
    private readonly ingest: IngestService,
    private readonly routing: RoutingService,
    private readonly recordings: ZadarmaRecordings,
    private readonly clock: Clock,
  ) {}

  /** URL check when the address is saved in Zadarma: echo the token as the whole body. */
  @Get()
  @ApiQuery({ name: 'zd_echo', required: true })
  @ApiOkResponse({ description: 'the zd_echo value as text/plain' })
  echo(@Query('zd_echo') token: unknown, @Res({ passthrough: true }) reply: FastifyReply): string {
    return this.echoed(token, reply);
  }

  @Post()
  @HttpCode(200)
  @MeasuredIngest('zadarma')
  @ApiConsumes('application/x-www-form-urlencoded', 'multipart/form-data')
  @ApiHeader({
    name: 'Signature',
    required: true,
    description: 'base64(hex(HMAC-SHA1(API secret, event-specific fields)))',
  })
  @ApiOkResponse({
    description: 'NOTIFY_START/NOTIFY_IVR: {redirect, return_timeout, caller_name} or {}',
  })
  async notify(
    @Param('tenantId') tenantId: string,
    @Body() body: unknown,
    @Headers('signature') signature: string | undefined,
    @Req() req: FastifyRequest,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<ZadarmaReply | string> {
    const fields = asFields(body);
    // Some senders re-check the URL by POST; the echo needs no signature either way.
    if (fields.event === undefined && fields.zd_echo !== undefined) {
      return this.echoed(fields.zd_echo, reply);
    }
    const event = notificationEvent(fields);
    const { tenant, source } = await this.verify(req, tenantId, event, fields, signature);
    // req.ip is the socket's peer, or the client a trusted proxy reports (HUB_TRUST_PROXY).
    if (source.senders && !source.senders.allows(req.ip)) {
      noteRejection(req, 'forbidden_sender');
      throw new ForbiddenException(
        `sender ${req.ip} is not in config.allowedSenders of this tenant's Zadarma PBX source` +
          ' (behind a proxy? see HUB_TRUST_PROXY)',
      );
    }
    const receivedAt = this.clock.now();
    const notification = parseNotification(fields);
    // A replay of a captured notification is signed like the original; its age gives it away.
    // 400, not 5xx: Zadarma's retry rules are undocumented (spec §1.5), a 4xx is final by HTTP
    // semantics, and should it re-deliver anyway, the same notification only gets older and is
    // refused the same way, without touching storage.
    const skew = notificationSkewProblem(notification, { timezone: tenant.timezone, receivedAt });
    if (skew) {
      noteRejection(req, 'stale');
      throw new BadRequestException(skew);
    }
    const mapped: MappedNotification = mapNotification(
      notification,
      { timezone: tenant.timezone, defaultCountry: tenant.defaultCountry, receivedAt },
      fields,
    );
    // Storage and routing run side by side; the reply waits for both, so a 2xx always means
    // stored (a storage failure surfaces as 503 and Zadarma re-delivers).
    const events = mapped.recording
      ? [
          ...mapped.events,
          recordingEvent(
            mapped.recording,
            this.recordings.reference(source, mapped.recording),
            this.clock.now(),
          ),
        ]
      : mapped.events;
    const stored = events.length
      ? this.ingest.ingest(tenantId, events, 'zadarma')
      : Promise.resolve(null);
    const steering = mapped.route ? this.route(tenant, mapped.route) : Promise.resolve({});
    const [, answer] = await Promise.all([stored, steering]);
    return answer;
  }

  private echoed(token: unknown, reply: FastifyReply): string {
    if (typeof token !== 'string' || !ECHO_PATTERN.test(token)) {
      throw new BadRequestException('zd_echo must be 1-128 letters, digits or ._~-');
    }
    void reply.type('text/plain; charset=utf-8');
    return token;
  }

  /**
   * The Signature must match the API secret of one of the tenant's zadarma sources. An unknown
   * tenant, a tenant without such a source and a wrong signature get the same answer.
   */
  private async verify(
    req: FastifyRequest,
    tenantId: string,
    event: ZadarmaEvent,
    fields: ZadarmaFields,
    signature: string | undefined,
  ): Promise<{ tenant: Tenant; source: ZadarmaSource }> {
    const refuse = (reason: RejectReason, message: string): never => {
      noteRejection(req, reason);
      throw new UnauthorizedException(message);
    };
    if (!signature) {
      return refuse(
        'unauthenticated',
        'Signature header is missing: Zadarma notifications must be signed with the API secret',
      );
    }
    const mismatch = "Signature does not match the API secret of this tenant's Zadarma PBX source";
    const tenant = await this.tenants.find(tenantId);
    if (!tenant) return refuse('unknown_tenant', mismatch);
    noteTenant(req, tenant.id);
    const cached = this.secrets.get(tenantId);
    const fresh = !cached || cached.expiresAt <= this.clock.nowMs();
    let accounts = await this.accounts(tenantId);
    const match = this.match(tenantId, accounts, event, fields, signature);
    if (match) return { tenant, source: match };
    // A source added or re-keyed a moment ago is not in the cache yet: look once more.
    if (!fresh) {
      this.secrets.delete(tenantId);
      accounts = await this.accounts(tenantId);
      const again = this.match(tenantId, accounts, event, fields, signature);
      if (again) return { tenant, source: again };
    }
    return refuse(accounts.length ? 'bad_signature' : 'unknown_source', mismatch);
  }

  private match(
    tenantId: string,
    candidates: ZadarmaSource[],
    event: ZadarmaEvent,
    fields: ZadarmaFields,
    signature: string,
  ): ZadarmaSource | null {
    for (const source of candidates) {
      const check = checkWebhookSignature(source.account.secret, event, fields, signature);
      if (check === 'ok') return source;
      if (check === 'raw_base64') {
        this.logger.warn(
          { tenantId, sourceId: source.sourceId, event },
          'Signature is base64 of the raw HMAC, not of its hex form; refused',
        );
      }
    }
    return null;
  }

  /** The tenant's zadarma accounts, briefly cached: every notification needs them. */
  private async accounts(tenantId: string): Promise<ZadarmaSource[]> {
    const hit = this.secrets.get(tenantId);
    if (hit && hit.expiresAt > this.clock.nowMs()) return hit.sources;
    const found: ZadarmaSource[] = [];
    for (const source of await this.sources.byType(tenantId, 'zadarma')) {
      try {
        found.push({
          sourceId: source.id,
          account: accountOf(source, this.sources.credentials(source)),
          // A list that cannot be read makes the source unusable: refusing beats letting anyone in.
          senders: SenderAllowList.from(source.config.allowedSenders),
        });
      } catch (err) {
        this.logger.warn(
          { tenantId, sourceId: source.id, err: (err as Error).message },
          'unusable zadarma source',
        );
      }
    }
    // Only a hit is cached, so a source added a moment ago works at once.
    if (found.length)
      this.secrets.set(tenantId, {
        sources: found,
        expiresAt: this.clock.nowMs() + SECRETS_TTL_MS,
      });
    else this.secrets.delete(tenantId);
    return found;
  }

  /** Any failure means `{}`: Zadarma runs its own scenario. */
  private async route(tenant: Tenant, input: RouteInput): Promise<ZadarmaReply> {
    return replyFor(await this.routing.decideForPbx(tenant, input));
  }
}
