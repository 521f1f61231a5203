import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { Clock } from '../../common/clock';
import { RedisService } from '../../common/redis.service';
import type { RateLimitBucket } from '../../connector-sdk';

/**
 * Sliding-window log in Redis: at most `limit` grants in any window, shared by
 * every hub instance; a pause key (set after a CRM's 429/503) blocks the bucket.
 * Returns 0 when granted, else the milliseconds to wait. Time comes from Redis so
 * instances with skewed clocks agree.
 */
const ACQUIRE = `
local pause = redis.call('PTTL', KEYS[2])
if pause > 0 then return pause end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
`;

/**
 * A leaky bucket: the level drains `rate` a second; a request fits while the level stays within
 * `burst`. Returns 0 when granted, else the milliseconds until one fits.
 */
const LEAK = `
local pause = redis.call('PTTL', KEYS[2])
if pause > 0 then return pause end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local level = tonumber(redis.call('HGET', KEYS[1], 'l') or '0')
local at = tonumber(redis.call('HGET', KEYS[1], 't') or tostring(now))
level = math.max(0, level - (now - at) * rate / 1000)
if level + 1 <= burst then
  redis.call('HSET', KEYS[1], 'l', tostring(level + 1), 't', tostring(now))
  redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
  return 0
end
redis.call('HSET', KEYS[1], 'l', tostring(level), 't', tostring(now))
return math.max(1, math.ceil((level + 1 - burst) * 1000 / rate))
`;

/**
 * A window a little longer than a second absorbs the jitter between the grant and the CRM's
 * arrival count (the network, a busy event loop): two requests granted 1.2 s apart never
 * arrive within one of the CRM's seconds unless one is held up by more than 200 ms.
 */
export const WINDOW_MS = 1200;

export function bucketFor(
  buckets: readonly RateLimitBucket[],
  path: string,
): RateLimitBucket | undefined {
  const specific = buckets.find((b) => b.pathPrefix && path.startsWith(b.pathPrefix));
  return specific ?? buckets.find((b) => !b.pathPrefix);
}

@Injectable()
export class RateLimiter {
  constructor(
    private readonly redis: RedisService,
    private readonly clock: Clock,
  ) {}

  private keys(integrationId: string, bucket: string): [string, string] {
    const base = this.redis.key('rl', integrationId, bucket);
    return [base, `${base}:pause`];
  }

  async tryAcquire(integrationId: string, bucket: RateLimitBucket): Promise<number> {
    const [log, pause] = this.keys(integrationId, bucket.name);
    if (bucket.burst !== undefined) {
      const wait = await this.redis.client.eval(
        LEAK,
        2,
        `${log}:leaky`,
        pause,
        String(bucket.requestsPerSecond),
        String(Math.max(1, Math.floor(bucket.burst))),
      );
      return Number(wait);
    }
    const member = `${this.clock.nowMs()}-${randomBytes(6).toString('hex')}`;
    const wait = await this.redis.client.eval(
      ACQUIRE,
      2,
      log,
      pause,
      String(Math.max(1, Math.floor(bucket.requestsPerSecond))),
      String(WINDOW_MS),
      member,
    );
    return Number(wait);
  }

  /** Waits for a slot up to maxWaitMs; returns the remaining wait when it gave up (0 = acquired). */
  async acquire(
    integrationId: string,
    bucket: RateLimitBucket,
    maxWaitMs: number,
  ): Promise<number> {
    const deadline = this.clock.nowMs() + maxWaitMs;
    for (;;) {
      const wait = await this.tryAcquire(integrationId, bucket);
      if (wait === 0) return 0;
      if (this.clock.nowMs() + wait > deadline) return wait;
      await new Promise((r) => setTimeout(r, wait + Math.floor(Math.random() * 10)));
    }
  }

  /** After a CRM said "slow down": nobody in the cluster uses the bucket until the delay passes. */
  async pause(integrationId: string, bucket: RateLimitBucket, ms: number): Promise<void> {
    const [, pause] = this.keys(integrationId, bucket.name);
    await this.redis.client.set(pause, '1', 'PX', Math.max(1, Math.ceil(ms)));
  }
}
