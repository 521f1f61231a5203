import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import type Redis from 'ioredis';
import { RedisService } from './redis.service';

export type ChannelHandler = (message: string) => void;

/**
 * Messages about a tenant across instances, over Redis pub/sub: the instance that has
 * something to say publishes on the tenant's channel of a topic; every instance with a
 * listener of that tenant and topic hands it on. One subscriber connection per instance.
 */
@Injectable()
export class TenantChannels implements OnModuleDestroy {
  private readonly logger = new Logger('TenantChannels');
  private readonly handlers = new Map<string, Set<ChannelHandler>>();
  private subscriber: Redis | null = null;

  constructor(private readonly redis: RedisService) {}

  onModuleDestroy(): void {
    this.subscriber?.disconnect();
    this.subscriber = null;
    this.handlers.clear();
  }

  private channel(topic: string, tenantId: string): string {
    return this.redis.key('ch', topic, tenantId);
  }

  async publish(topic: string, tenantId: string, message: string): Promise<void> {
    await this.redis.client
      .publish(this.channel(topic, tenantId), message)
      .catch((err: Error) => this.logger.warn({ topic, err: err.message }, 'not published'));
  }

  /** Hands the tenant's messages of a topic to `handler` until the returned function is called. */
  async subscribe(topic: string, tenantId: string, handler: ChannelHandler): Promise<() => void> {
    const sub = this.connection();
    const channel = this.channel(topic, tenantId);
    let set = this.handlers.get(channel);
    if (!set) {
      set = new Set();
      this.handlers.set(channel, set);
      await sub.subscribe(channel);
    }
    set.add(handler);
    return () => {
      const current = this.handlers.get(channel);
      if (!current?.delete(handler) || current.size > 0) return;
      this.handlers.delete(channel);
      void sub.unsubscribe(channel).catch(() => undefined);
    };
  }

  private connection(): Redis {
    if (this.subscriber) return this.subscriber;
    const sub = this.redis.dedicated();
    sub.on('message', (channel: string, message: string) => {
      for (const handler of this.handlers.get(channel) ?? []) handler(message);
    });
    this.subscriber = sub;
    return sub;
  }
}
