import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { RedisService } from '../../common/redis.service';
import { OriginateRequest, PbxError, PbxErrorCode, PbxOriginator } from '../pbx-adapter';
import type { PbxSource } from '../pbx-source.entity';
import type { AmiClient, AmiError } from './ami-client';
import { AsteriskSourceService } from './asterisk-source.service';
import type { AsteriskSourceConfig } from './asterisk.schema';

const ORIGINATE_TIMEOUT_MS = 15000;

interface OriginateMessage {
  id: string;
  replyTo: string;
  sourceId: string;
  request: OriginateRequest;
}

interface OriginateReply {
  id: string;
  ok: boolean;
  message?: string;
  code?: PbxErrorCode;
}

/**
 * Click-to-call through Asterisk's Originate, on the instance that holds the source's AMI
 * connection. From any other instance the request goes over Redis pub/sub: published on
 * the source's channel, run by the holder, answered on the requester's own reply channel
 * (waited for up to ORIGINATE_TIMEOUT_MS). With no lease holder at all it fails fast.
 */
@Injectable()
export class AsteriskOriginator implements PbxOriginator, OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('AsteriskOriginator');
  private readonly waiting = new Map<string, (reply: OriginateReply) => void>();
  private publisher!: Redis;
  private subscriber!: Redis;

  constructor(
    private readonly holder: AsteriskSourceService,
    private readonly redisService: RedisService,
  ) {}

  private get replyChannel(): string {
    return this.redisService.key('asterisk', 'originate-reply', this.holder.instanceId);
  }

  private requestChannel(sourceId: string): string {
    return this.redisService.key('asterisk', 'originate', sourceId);
  }

  async onApplicationBootstrap(): Promise<void> {
    this.publisher = this.redisService.dedicated();
    this.subscriber = this.redisService.dedicated(true);
    this.subscriber.on('pmessage', (_pattern, channel, payload) => this.onPubSub(channel, payload));
    this.subscriber.on('message', (channel, payload) => this.onPubSub(channel, payload));
    await this.subscriber
      .psubscribe(this.requestChannel('*'))
      .then(() => this.subscriber.subscribe(this.replyChannel))
      .catch((err: Error) => this.logger.warn({ err: err.message }, 'pub/sub unavailable'));
  }

  onModuleDestroy(): void {
    this.subscriber?.disconnect();
    this.publisher?.disconnect();
  }

  canOriginate(): boolean {
    return true;
  }

  async originate(
    source: PbxSource,
    _credentials: Record<string, unknown> | null,
    request: OriginateRequest,
  ): Promise<void> {
    if (!/^[0-9A-Za-z*#_+-]{1,32}$/.test(request.extension)) {
      throw PbxError.refused('the extension is not a valid dialplan extension');
    }
    if (!/^\+?[0-9]{3,20}$/.test(request.to)) {
      throw PbxError.refused('the number to call must be digits');
    }
    const local = this.holder.clientFor(source.id);
    if (local) return this.originateHere(local.source, local.client, request);
    if (!(await this.holder.holderOf(source.id))) {
      throw PbxError.unreachable('no hub instance holds the AMI connection of this source');
    }
    const id = randomUUID();
    const reply = new Promise<OriginateReply>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        resolve({ id, ok: false, message: 'the AMI holder did not answer', code: 'unreachable' });
      }, ORIGINATE_TIMEOUT_MS);
      this.waiting.set(id, (r) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(r);
      });
    });
    const message: OriginateMessage = {
      id,
      replyTo: this.replyChannel,
      sourceId: source.id,
      request,
    };
    await this.publisher.publish(this.requestChannel(source.id), JSON.stringify(message));
    const r = await reply;
    if (!r.ok) throw new PbxError(r.code ?? 'unreachable', r.message ?? 'originate failed');
  }

  private async originateHere(
    source: PbxSource,
    client: AmiClient,
    request: OriginateRequest,
  ): Promise<void> {
    const config = source.config as unknown as AsteriskSourceConfig;
    const context = config.originateContext ?? 'from-internal';
    try {
      await client.action({
        Action: 'Originate',
        Channel: `Local/${request.extension}@${context}`,
        Context: context,
        Exten: request.to,
        Priority: 1,
        CallerID: `"${request.to}" <${request.to}>`,
        Timeout: 30000,
        Async: 'true',
        ChannelId: request.requestId,
        Variable: [`HUB_REQUEST_ID=${request.requestId}`],
      });
    } catch (err) {
      const e = err as AmiError;
      const message = `Asterisk refused the call: ${e.message}`;
      throw e.kind === 'rejected' ? PbxError.refused(message) : PbxError.unreachable(message);
    }
  }

  private onPubSub(channel: string, payload: string): void {
    try {
      if (channel === this.replyChannel) {
        const reply = JSON.parse(payload) as OriginateReply;
        this.waiting.get(reply.id)?.(reply);
        return;
      }
      const msg = JSON.parse(payload) as OriginateMessage;
      const local = this.holder.clientFor(msg.sourceId);
      if (!local) return;
      void this.originateHere(local.source, local.client, msg.request).then(
        () => this.answer(msg, { id: msg.id, ok: true }),
        (err: PbxError) =>
          this.answer(msg, { id: msg.id, ok: false, message: err.message, code: err.code }),
      );
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'bad originate message');
    }
  }

  private async answer(msg: OriginateMessage, reply: OriginateReply): Promise<void> {
    await this.publisher.publish(msg.replyTo, JSON.stringify(reply)).catch(() => undefined);
  }
}
