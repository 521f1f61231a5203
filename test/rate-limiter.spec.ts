import { Clock } from '../src/common/clock';
import { RedisService } from '../src/common/redis.service';
import { AppConfig } from '../src/config/config';
import { RateLimiter, WINDOW_MS } from '../src/integrations/runtime/rate-limiter.service';
import { dropTestResources, testConfig } from './support/test-env';

/** The CRM limits on real Redis, two instances sharing one key prefix. */
describe('RateLimiter', () => {
  let config: AppConfig;
  const redises: RedisService[] = [];

  async function instance(): Promise<RateLimiter> {
    const redis = new RedisService(config);
    redises.push(redis);
    if (redis.client.status !== 'ready') {
      await new Promise((resolve) => redis.client.once('ready', resolve));
    }
    return new RateLimiter(redis, new Clock());
  }
  async function granted(limiter: RateLimiter, key: string, bucket: object, n: number) {
    const waits = await Promise.all(
      Array.from({ length: n }, () =>
        limiter.tryAcquire(key, bucket as Parameters<RateLimiter['tryAcquire']>[1]),
      ),
    );
    return { granted: waits.filter((w) => w === 0).length, waits };
  }

  beforeAll(() => {
    config = testConfig();
  });
  afterAll(async () => {
    for (const r of redises) await r.onModuleDestroy();
    await dropTestResources(config);
  });

  it('lets a burst through a leaky bucket, then as fast as it drains, for every instance', async () => {
    const bucket = { name: 'default', requestsPerSecond: 2, burst: 5 };
    const [a, b] = [await instance(), await instance()];
    expect((await granted(a, 'portal-1', bucket, 3)).granted).toBe(3);
    const second = await granted(b, 'portal-1', bucket, 4);
    // Two more fit in the burst of five; the rest wait about half a second per request.
    expect(second.granted).toBe(2);
    const refused = second.waits.filter((w) => w > 0);
    expect(Math.min(...refused)).toBeGreaterThan(100);
    expect(Math.min(...refused)).toBeLessThanOrEqual(500);
    // Once the bucket drained by one, one more fits.
    await new Promise((r) => setTimeout(r, Math.min(...refused) + 20));
    expect((await granted(a, 'portal-1', bucket, 1)).granted).toBe(1);
    // Another portal has its own bucket.
    expect((await granted(b, 'portal-2', bucket, 5)).granted).toBe(5);
  });

  it('keeps a sliding window of requestsPerSecond without a burst', async () => {
    const limiter = await instance();
    const bucket = { name: 'default', requestsPerSecond: 7 };
    const first = await granted(limiter, 'account-1', bucket, 10);
    expect(first.granted).toBe(7);
    expect(Math.max(...first.waits)).toBeLessThanOrEqual(WINDOW_MS);
  });
});
