import { loadConfig } from '../src/config/config';
import { sleep } from './support/fault-load';
import { freePort, HubProcess } from './support/hub-process';
import { OwnRedis } from './support/redis-server';
import { TcpProxy } from './support/tcp-proxy';
import { eventually } from './support/test-app';
import { dropTestResources, testEnv } from './support/test-env';

/**
 * The hub started while Redis or MariaDB is unreachable: it says which one within 5 s, is
 * live but not ready meanwhile, and becomes ready by itself once the dependency is back.
 */
describe('start-up with a dependency down', () => {
  let hub: HubProcess | undefined;
  const cleanups: (() => Promise<void>)[] = [];

  afterEach(async () => {
    await hub?.kill();
    hub = undefined;
    for (const c of cleanups.splice(0)) await c();
  }, 60000);

  const status = (path: string) =>
    fetch(`${hub!.url}${path}`)
      .then((r) => r.status)
      .catch(() => 0);

  async function expectWaitingFor(name: string, address: string): Promise<void> {
    const startedAt = Date.now();
    const said = await eventually(
      async () => hub!.output.join(''),
      (out) => out.includes(`${name} is unreachable at ${address}`),
      5000,
    );
    expect(said).toContain(`${name} is unreachable at ${address}`);
    expect(Date.now() - startedAt).toBeLessThan(5000);
    expect(
      await eventually(
        () => status('/health/live'),
        (s) => s === 200,
        3000,
      ),
    ).toBe(200);
    expect(await status('/health/ready')).toBe(503);
  }

  it('names Redis, stays live and not ready, and recovers when Redis comes', async () => {
    const redis = new OwnRedis(await freePort());
    const env = testEnv({ REDIS_URL: redis.url, LOG_LEVEL: 'warn' });
    cleanups.push(async () => {
      await dropTestResources(loadConfig(env));
      await redis.kill();
    });
    hub = new HubProcess(env, await freePort());
    hub.spawnOnly();
    await expectWaitingFor('Redis', redis.url);
    await sleep(1000);
    expect(hub.running).toBe(true);

    await redis.start();
    expect(
      await eventually(
        () => status('/health/ready'),
        (s) => s === 200,
        30000,
      ),
    ).toBe(200);
    expect(hub.output.join('')).toContain('Redis is reachable again');
  }, 60000);

  it('names MariaDB (without its credentials), and recovers when it is reachable', async () => {
    const proxy = new TcpProxy('127.0.0.1', 3306);
    await proxy.start();
    proxy.cut();
    const base = testEnv({ LOG_LEVEL: 'warn' });
    const database = new URL(base.DATABASE_URL).pathname;
    const env = {
      ...base,
      DATABASE_URL: `mysql://root@127.0.0.1:${proxy.port}${database}`,
    };
    cleanups.push(async () => {
      await proxy.close();
      await dropTestResources(loadConfig(base));
    });
    hub = new HubProcess(env, await freePort());
    hub.spawnOnly();
    await expectWaitingFor('MariaDB', `mysql://127.0.0.1:${proxy.port}${database}`);

    proxy.restore();
    expect(
      await eventually(
        () => status('/health/ready'),
        (s) => s === 200,
        30000,
      ),
    ).toBe(200);
  }, 60000);
});
