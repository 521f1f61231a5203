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
    ['HUB_RETENTION_DAYS', { ...base, HUB_RETENTION_DAYS: '-1' }],
    ['HUB_RETENTION_DAYS', { ...base, HUB_RETENTION_DAYS: '36501' }],
    ['HUB_RETENTION_DAYS', { ...base, HUB_RETENTION_DAYS: '7.5' }],
    ['HUB_RETENTION_DAYS', { ...base, HUB_RETENTION_DAYS: 'month' }],
    ['HUB_RETENTION_INTERVAL_S', { ...base, HUB_RETENTION_INTERVAL_S: '0' }],
    ['HUB_ENCRYPTION_KEY_PREVIOUS', { ...base, HUB_ENCRYPTION_KEY_PREVIOUS: 'bm90LTMyLWJ5dGVz' }],
    [
      'HUB_ENCRYPTION_KEY_PREVIOUS',
      { ...base, HUB_ENCRYPTION_KEY_PREVIOUS: base.HUB_ENCRYPTION_KEY },
    ],
    ['HUB_ADMIN_TOKEN_PREVIOUS', { ...base, HUB_ADMIN_TOKEN_PREVIOUS: 'short' }],
    ['HUB_ADMIN_TOKEN_PREVIOUS', { ...base, HUB_ADMIN_TOKEN_PREVIOUS: base.HUB_ADMIN_TOKEN }],
  ])('stops with a message naming %s', (name, env) => {
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(new RegExp(name));
  });

  it('keeps data forever unless HUB_RETENTION_DAYS is set, and takes 0 to 36500 days', () => {
    expect(loadConfig(base)).toMatchObject({ retentionDays: 0, retentionIntervalS: 3600 });
    expect(loadConfig({ ...base, HUB_RETENTION_DAYS: '0' }).retentionDays).toBe(0);
    expect(loadConfig({ ...base, HUB_RETENTION_DAYS: '36500' }).retentionDays).toBe(36500);
    expect(
      loadConfig({ ...base, HUB_RETENTION_DAYS: '90', HUB_RETENTION_INTERVAL_S: '60' }),
    ).toMatchObject({ retentionDays: 90, retentionIntervalS: 60 });
  });

  it('takes the previous encryption key and admin token of a rotation, when set', () => {
    expect(loadConfig(base)).toMatchObject({
      encryptionKeyPrevious: null,
      adminTokenPrevious: null,
    });
    const previous = Buffer.alloc(32, 2);
    const c = loadConfig({
      ...base,
      HUB_ENCRYPTION_KEY_PREVIOUS: previous.toString('base64'),
      HUB_ADMIN_TOKEN_PREVIOUS: 'b'.repeat(30),
    });
    expect(c.encryptionKeyPrevious?.equals(previous)).toBe(true);
    expect(c.adminTokenPrevious).toBe('b'.repeat(30));
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
