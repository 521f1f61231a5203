import {
  Body,
  Controller,
  ForbiddenException,
  Get,
  Headers,
  HttpCode,
  Inject,
  Logger,
  NotFoundException,
  Options,
  Param,
  Post,
  Query,
  Res,
  UnauthorizedException,
} from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { IsString, Matches } from 'class-validator';
import type { FastifyReply } from 'fastify';
import { CallOriginator } from '../../calls/call-originator';
import { CallRow, CallsRepository, ringingOf } from '../../calls/calls.repository';
import { Clock } from '../../common/clock';
import { RedisService } from '../../common/redis.service';
import { randomToken, sha256Hex } from '../../common/secret-box';
import { AppConfig } from '../../config/config';
import { APP_CONFIG } from '../../config/config.module';
import { isConnectorError, type ContactMatch } from '../../connector-sdk';
import { ContactResolver } from '../../contacts/contact-resolver.service';
import { AgentsService } from '../agents.service';
import type { Integration } from '../integration.entity';
import { IntegrationsService } from '../integrations.service';
import { ConnectorRuntime } from '../runtime/connector-runtime.service';
import { CallFeed, concerns, FeedCall, feedEvent, FeedEvent } from './call-feed.service';

/** A ticket opens one stream, within this long of the session that made it. */
const TICKET_TTL_S = 60;
/** A comment line this often keeps proxies from closing an idle stream. */
const KEEPALIVE_MS = 15_000;
/** A call going on longer than this is not one a widget still shows. */
const ACTIVE_WINDOW_MS = 6 * 3600_000;
/** Earlier calls of the client a ringing card shows. */
const LAST_CALLS = 3;
/** How long a stream waits for a contact before it sends the event without one. */
const CONTACT_WAIT_MS = 1500;
const TICKET = /^wt_[A-Za-z0-9_-]{43}$/;

export class WidgetCallDto {
  @IsString()
  @Matches(/^\+?[0-9 ()-]{3,32}$/, { message: '$property must be a phone number' })
  phone: string;
}

interface Ticket {
  tenantId: string;
  integrationId: string;
  crmUserId: string;
  extension: string | null;
}

/** The widget runs on the CRM's own pages: it reaches the hub cross-origin, with no cookies. */
function allowCrossOrigin(reply: FastifyReply): void {
  void reply.header('access-control-allow-origin', '*');
  void reply.header('access-control-allow-headers', 'authorization, content-type');
  void reply.header('access-control-allow-methods', 'GET, POST, OPTIONS');
  void reply.header('access-control-max-age', '600');
}

/**
 * A CRM widget's routes (amoCRM's marketplace widget): a session from the CRM's disposable
 * token, a stream of that user's calls (server-sent events), click-to-call from the user's
 * extension. The connector checks the token; the agent map says which extension is whose.
 */
@ApiTags('crm')
@Controller('v1/crm/:connector/:integrationId/widget')
export class WidgetController {
  private readonly logger = new Logger('Widget');
  private readonly audience: string;
  private readonly streamMs: number;

  constructor(
    private readonly integrations: IntegrationsService,
    private readonly runtime: ConnectorRuntime,
    private readonly agents: AgentsService,
    private readonly redis: RedisService,
    private readonly feed: CallFeed,
    private readonly contacts: ContactResolver,
    private readonly originator: CallOriginator,
    private readonly calls: CallsRepository,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.audience = new URL(config.publicUrl).origin;
    this.streamMs = config.widgetStreamS * 1000;
  }

  @Options(':action')
  preflight(@Res() reply: FastifyReply): void {
    allowCrossOrigin(reply);
    void reply.status(204).send();
  }

  /** `Authorization: Bearer <disposable token>` → a short-lived ticket for one stream. */
  @Post('session')
  @HttpCode(200)
  async session(
    @Param('connector') connector: string,
    @Param('integrationId') integrationId: string,
    @Headers('authorization') authorization: string | undefined,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<{ ticket: string; extension: string | null; expiresIn: number }> {
    allowCrossOrigin(reply);
    const { integration, crmUserId, extension } = await this.user(
      connector,
      integrationId,
      authorization,
    );
    const ticket = randomToken('wt_');
    const stored: Ticket = {
      tenantId: integration.tenantId,
      integrationId: integration.id,
      crmUserId,
      extension,
    };
    await this.redis.client.set(this.ticketKey(ticket), JSON.stringify(stored), 'EX', TICKET_TTL_S);
    return { ticket, extension, expiresIn: TICKET_TTL_S };
  }

  /** Server-sent events `call.ringing | call.answered | call.ended` of the ticket's user. */
  @Get('stream')
  async stream(
    @Param('connector') connector: string,
    @Param('integrationId') integrationId: string,
    @Query('ticket') ticket: string | undefined,
    @Res() reply: FastifyReply,
  ): Promise<void> {
    allowCrossOrigin(reply);
    const claim =
      typeof ticket === 'string' && TICKET.test(ticket) ? await this.take(ticket) : null;
    if (!claim || claim.integrationId !== integrationId) {
      throw new UnauthorizedException('ticket is unknown, used or expired');
    }
    const integration = await this.integrations.byId(integrationId);
    if (!integration || integration.connector !== connector || !integration.enabled) {
      throw new UnauthorizedException('ticket is unknown, used or expired');
    }
    const raw = reply.raw;
    const extension = claim.extension;
    let open = true;
    const send = async (event: FeedEvent) => {
      if (!extension || !concerns(event, extension)) return;
      const contact = event.phone ? await this.contactOf(integration, event.phone) : null;
      const lastCalls =
        event.type === 'call.ringing' && event.phone
          ? await this.lastCalls(claim.tenantId, event.phone, event.callId)
          : undefined;
      if (!open) return;
      const data = {
        callId: event.callId,
        direction: event.direction,
        phone: event.phone,
        line: event.line,
        contact,
        answeredBy: event.answeredBy,
        mine: event.type === 'call.ringing' || event.answeredBy === extension,
        ...(lastCalls ? { lastCalls } : {}),
      };
      raw.write(`event: ${event.type}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    // Subscribed before the answer starts, so nothing between the snapshot and the feed is
    // missed; events are written in the order they came, whatever each lookup takes.
    let chain = Promise.resolve();
    const unsubscribe = await this.feed.subscribe(claim.tenantId, (event) => {
      chain = chain.then(() => send(event)).catch(() => undefined);
    });
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
      'access-control-allow-origin': '*',
    });
    raw.write(
      `retry: 3000\n: ${claim.extension ? `extension ${claim.extension}` : 'no extension'}\n\n`,
    );
    chain = chain
      .then(() => this.sendCurrent(claim.tenantId, extension, send, raw))
      .catch(() => undefined);
    const keepalive = setInterval(() => raw.write(': ping\n\n'), KEEPALIVE_MS);
    keepalive.unref();
    // A stream does not outlive the token it was opened with by long: the widget opens a new
    // session (a fresh disposable token, the user's current extension) and a new stream.
    const expiry = setTimeout(() => raw.end(), this.streamMs);
    expiry.unref();
    raw.on('close', () => {
      open = false;
      clearInterval(keepalive);
      clearTimeout(expiry);
      unsubscribe();
    });
  }

  /** `{phone}` → the PBX rings the user's extension, then dials the number. */
  @Post('call')
  @HttpCode(202)
  async call(
    @Param('connector') connector: string,
    @Param('integrationId') integrationId: string,
    @Headers('authorization') authorization: string | undefined,
    @Body() body: WidgetCallDto,
    @Res({ passthrough: true }) reply: FastifyReply,
  ): Promise<{ requestId: string }> {
    allowCrossOrigin(reply);
    const { integration, extension } = await this.user(connector, integrationId, authorization);
    if (!extension) {
      throw new ForbiddenException('this CRM user has no extension in the agent map');
    }
    return this.originator.originate({
      tenantId: integration.tenantId,
      extension,
      to: body.phone,
    });
  }

  /** The integration, and the CRM user (and extension) its widget token speaks for; 401 otherwise. */
  private async user(
    connector: string,
    integrationId: string,
    authorization: string | undefined,
  ): Promise<{ integration: Integration; crmUserId: string; extension: string | null }> {
    const integration = await this.integrations.byId(integrationId);
    if (
      !integration ||
      integration.connector !== connector ||
      !integration.enabled ||
      !this.runtime.supports(integration, 'widget')
    ) {
      throw new NotFoundException('no such integration');
    }
    const token = /^Bearer\s+(\S{1,8192})$/i.exec(authorization ?? '')?.[1];
    if (!token) throw new UnauthorizedException('a Bearer token from the CRM widget is required');
    try {
      const { crmUserId } = await this.runtime
        .forIntegration(integration)
        .use('widget')
        .verifyWidgetToken({ token, audience: this.audience });
      return {
        integration,
        crmUserId,
        extension: await this.agents.extensionOf(integration.id, crmUserId),
      };
    } catch (err) {
      if (isConnectorError(err) && err.code === 'auth_invalid') {
        throw new UnauthorizedException(err.message);
      }
      throw err;
    }
  }

  private ticketKey(ticket: string): string {
    return this.redis.key('widget', 'ticket', sha256Hex(ticket));
  }

  /** Takes a ticket once: a second stream with it is refused. */
  private async take(ticket: string): Promise<Ticket | null> {
    const key = this.ticketKey(ticket);
    const results = (await this.redis.client.multi().get(key).del(key).exec()) ?? [];
    const raw = results[0]?.[1];
    if (typeof raw !== 'string') return null;
    try {
      return JSON.parse(raw) as Ticket;
    } catch {
      return null;
    }
  }

  /**
   * What goes on now, for a page opened (or a stream reopened) in the middle of a call: the
   * calls ringing for the user, then every call of theirs still going (the widget closes the
   * cards of the others: their end came while it was not connected).
   */
  private async sendCurrent(
    tenantId: string,
    extension: string | null,
    send: (event: FeedEvent) => Promise<void>,
    raw: NodeJS.WritableStream,
  ): Promise<void> {
    if (!extension) return;
    const since = new Date(this.clock.nowMs() - ACTIVE_WINDOW_MS);
    const rows = await this.calls.active(tenantId, since, 200).catch(() => [] as CallRow[]);
    const going = rows
      .filter((r) => r.direction !== 'internal')
      .map((r) =>
        feedEvent(r.status === 'answered' ? 'call.answered' : 'call.ringing', tenantId, r.call_id, {
          direction: r.direction as FeedCall['direction'],
          from: r.from_number,
          to: r.to_number,
          ringing: ringingOf(r),
          extension: r.extension,
          answeredBy: r.answered_by,
        }),
      )
      .filter((e) => concerns({ ...e, type: 'call.answered' }, extension));
    for (const e of going) if (e.type === 'call.ringing') await send(e);
    raw.write(
      `event: calls.now\ndata: ${JSON.stringify({ callIds: going.map((e) => e.callId) })}\n\n`,
    );
  }

  /** The client's latest earlier calls, for the card; none when the database cannot say. */
  private async lastCalls(tenantId: string, phone: string, callId: string) {
    const rows = await this.calls.lastOfClient(tenantId, phone, callId, LAST_CALLS).catch(() => []);
    return rows.map((r) => ({
      callId: r.call_id,
      startedAt: new Date(r.started_at).toISOString(),
      direction: r.direction,
      result: r.result,
      duration: r.duration,
      extension: r.answered_by ?? r.extension,
    }));
  }

  /** The caller's contact from the shared cache, or one lookup, within CONTACT_WAIT_MS. */
  private async contactOf(integration: Integration, phone: string): Promise<ContactMatch | null> {
    const live = this.runtime.forIntegration(integration);
    if (!live.canLookUp) return null;
    const lookup = this.contacts.resolve(integration.id, phone, (p) => live.lookupContact(p));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => {
      timer = setTimeout(() => resolve(null), CONTACT_WAIT_MS);
    });
    try {
      return await Promise.race([lookup, late]);
    } catch (err) {
      this.logger.debug({ err: (err as Error).message }, 'widget contact lookup failed');
      return null;
    } finally {
      clearTimeout(timer);
    }
  }
}
