import { ConfigError, loadConfig } from './config';
import { parseTrustProxy } from './trust-proxy';

const base = {
  HUB_ADMIN_TOKEN: 'a'.repeat(30),
  HUB_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
};

describe('HUB_TRUST_PROXY', () => {
  it('is off by default: X-Forwarded-For is believed from nobody', () => {
    expect(loadConfig(base).trustProxy).toBe(false);
    expect(loadConfig({ ...base, HUB_TRUST_PROXY: '' }).trustProxy).toBe(false);
    expect(loadConfig({ ...base, HUB_TRUST_PROXY: 'false' }).trustProxy).toBe(false);
  });

  it.each([
    ['true', true],
    ['2', 2],
    ['127.0.0.1', ['127.0.0.1']],
    ['10.0.0.0/8, 192.168.1.10,::1/128', ['10.0.0.0/8', '192.168.1.10', '::1/128']],
    ['loopback,uniquelocal', ['loopback', 'uniquelocal']],
  ])('takes %j', (value, expected) => {
    expect(loadConfig({ ...base, HUB_TRUST_PROXY: value }).trustProxy).toEqual(expected);
  });

  it.each(['yes', '0', '17', '10.0.0.0/33', 'proxy.example.com', '10.0.0.1,,10.0.0.2'])(
    'stops the boot naming the variable for %j',
    (value) => {
      expect(parseTrustProxy(value)).toBeNull();
      expect(() => loadConfig({ ...base, HUB_TRUST_PROXY: value })).toThrow(ConfigError);
      expect(() => loadConfig({ ...base, HUB_TRUST_PROXY: value })).toThrow(/HUB_TRUST_PROXY/);
    },
  );
});
