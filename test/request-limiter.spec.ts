import { ManualClock } from '../src/common/clock';
import { RedisService } from '../src/common/redis.service';
import { AppConfig } from '../src/config/config';
import { RequestLimiter } from '../src/tenants/request-limiter.service';
import { dropTestResources, testConfig } from './support/test-env';

/** The per-tenant limit on real Redis, two instances sharing one key prefix. */
describe('RequestLimiter: requests per tenant and second', () => {
  let config: AppConfig;
  const redises: RedisService[] = [];
  const limiters: RequestLimiter[] = [];
  // Inside a second, so that no test straddles two windows.
  const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000 + 100);

  async function instance(): Promise<RequestLimiter> {
    const redis = new RedisService(config);
    redises.push(redis);
    if (redis.client.status !== 'ready') {
      await new Promise((resolve) => redis.client.once('ready', resolve));
    }
    const limiter = new RequestLimiter(redis, clock, config);
    limiters.push(limiter);
    return limiter;
  }
  /** How many of n concurrent requests are served. */
  async function served(limiter: RequestLimiter, tenantId: string, n: number): Promise<number> {
    const waits = await Promise.all(Array.from({ length: n }, () => limiter.tenant(tenantId)));
    return waits.filter((w) => w === 0).length;
  }

  beforeAll(() => {
    config = testConfig({ HUB_TENANT_REQUESTS_PER_S: '20' });
  });
  afterEach(() => clock.advance(1000));
  afterAll(async () => {
    for (const l of limiters) l.onModuleDestroy();
    for (const r of redises) await r.onModuleDestroy();
    await dropTestResources(config);
  });

  it('keeps counting requests whose count is on its way to Redis', async () => {
    const limiter = await instance();
    expect(await served(limiter, 't-1', 10)).toBe(10);
    // The sync is in flight (its reply cannot arrive before these run): the 10 still count.
    const syncing = limiter.flush();
    expect(await served(limiter, 't-1', 15)).toBe(10);
    await syncing;
    expect(await served(limiter, 't-1', 1)).toBe(0);
  });

  it('shares the count between instances, and refuses with the time left in the second', async () => {
    const a = await instance();
    const b = await instance();
    expect(await served(a, 't-2', 12)).toBe(12);
    await a.flush();
    expect(await served(b, 't-2', 10)).toBe(8);
    expect(await b.tenant('t-2')).toBe(900);
    // Another tenant has its own count.
    expect(await served(b, 't-3', 20)).toBe(20);
  });
});
