import { randomBytes } from 'node:crypto';
import { createConnection } from 'mysql2/promise';
import Redis from 'ioredis';
import { AppConfig, loadConfig } from '../../src/config/config';

export const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
export const ENCRYPTION_KEY = Buffer.alloc(32, 7).toString('base64');

const MYSQL_ROOT = process.env.TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A database name and Redis prefix of its own for one test file, so files run in parallel. */
export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const id = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  return {
    DATABASE_URL: `${MYSQL_ROOT}/hub_test_${id}`,
    REDIS_URL,
    HUB_REDIS_PREFIX: `hubtest-${id}`,
    HUB_ADMIN_TOKEN: ADMIN_TOKEN,
    HUB_ENCRYPTION_KEY: ENCRYPTION_KEY,
    HUB_PUBLIC_URL: 'http://127.0.0.1:3000',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    HUB_SWEEP_AFTER_S: '2',
    HUB_SWEEP_INTERVAL_S: '1',
    // Sandboxes listen on 127.0.0.1; exactly that, so 127.0.0.2 and ::1 stay refused and can
    // stand in for internal targets.
    HUB_OUTBOUND_ALLOW: '127.0.0.1',
    // Every test client comes from 127.0.0.1, where production would see many addresses;
    // test/limits.e2e-spec.ts sets low limits to test them.
    HUB_AUTH_FAILURES_PER_MIN: '100000',
    HUB_ANON_REQUESTS_PER_MIN: '1000000',
    ...overrides,
  };
}

export function testConfig(overrides: Record<string, string> = {}): AppConfig {
  return loadConfig(testEnv(overrides));
}

/** Drops the file's database and Redis keys. */
export async function dropTestResources(
  config: Pick<AppConfig, 'databaseUrl' | 'redisUrl' | 'redisPrefix'>,
): Promise<void> {
  const url = new URL(config.databaseUrl);
  const name = url.pathname.slice(1);
  url.pathname = '/';
  const conn = await createConnection({ uri: url.toString() });
  try {
    await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
  } finally {
    await conn.end();
  }
  const redis = new Redis(config.redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(
        cursor,
        'MATCH',
        `${config.redisPrefix}:*`,
        'COUNT',
        1000,
      );
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  } finally {
    redis.disconnect();
  }
}
