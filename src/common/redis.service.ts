import { Inject, Injectable, OnModuleDestroy } from '@nestjs/common';
import Redis from 'ioredis';
import { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';
import { redisOptionsFromUrl } from './redis-options';

/** The hub's own Redis connection (caches, rate limits, leases); keys go under HUB_REDIS_PREFIX. */
@Injectable()
export class RedisService implements OnModuleDestroy {
  readonly client: Redis;
  readonly prefix: string;

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    this.prefix = config.redisPrefix;
    this.client = new Redis({
      ...redisOptionsFromUrl(config.redisUrl),
      maxRetriesPerRequest: 2,
      enableOfflineQueue: false,
      lazyConnect: false,
      connectTimeout: 2000,
    });
    this.client.on('error', () => undefined);
  }

  /**
   * A connection of its own (pub/sub, or one that must outlive the shared client at
   * shutdown), queuing commands while Redis reconnects. `blocking`: retried without limit.
   */
  dedicated(blocking = false): Redis {
    const conn = this.client.duplicate({
      enableOfflineQueue: true,
      maxRetriesPerRequest: blocking ? null : 2,
    });
    conn.on('error', () => undefined);
    return conn;
  }

  key(...parts: string[]): string {
    return [this.prefix, ...parts].join(':');
  }

  async onModuleDestroy(): Promise<void> {
    this.client.disconnect();
  }
}
