import { ConfigError, loadConfig } from './config';

const base = {
  HUB_ADMIN_TOKEN: 'a'.repeat(30),
  HUB_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
};

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(base);
    expect(c).toMatchObject({
      port: 3000,
      host: '0.0.0.0',
      databaseUrl: 'mysql://root@127.0.0.1:3306/hub',
      redisUrl: 'redis://127.0.0.1:6379',
      redisPrefix: 'hub',
      connectorPlugins: [],
    });
    expect(c.encryptionKey).toHaveLength(32);
  });

  it.each([
    ['HUB_ADMIN_TOKEN', { HUB_ENCRYPTION_KEY: base.HUB_ENCRYPTION_KEY }],
    ['HUB_ENCRYPTION_KEY', { HUB_ADMIN_TOKEN: base.HUB_ADMIN_TOKEN }],
    ['HUB_ADMIN_TOKEN', { ...base, HUB_ADMIN_TOKEN: 'short' }],
    ['HUB_ENCRYPTION_KEY', { ...base, HUB_ENCRYPTION_KEY: 'bm90LTMyLWJ5dGVz' }],
    ['HUB_PORT', { ...base, HUB_PORT: 'eighty' }],
    ['DATABASE_URL', { ...base, DATABASE_URL: 'postgres://x/y' }],
    ['REDIS_URL', { ...base, REDIS_URL: 'localhost:6379' }],
    ['HUB_PUBLIC_URL', { ...base, HUB_PUBLIC_URL: 'not a url' }],
    ['LOG_LEVEL', { ...base, LOG_LEVEL: 'loud' }],
  ])('stops with a message naming %s', (name, env) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(new RegExp(name));
  });

  it('never prints a secret value in its message', () => {
    const secret = 'sekrit-but-too-short';
    try {
      loadConfig({ ...base, HUB_ADMIN_TOKEN: secret });
      throw new Error('expected a ConfigError');
    } catch (err) {
      expect((err as Error).message).toMatch(/HUB_ADMIN_TOKEN/);
      expect((err as Error).message).not.toContain(secret);
    }
  });
});
