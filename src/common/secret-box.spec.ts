import { randomBytes } from 'node:crypto';
import { isAdminToken, safeEqual, SecretBox } from './secret-box';

describe('SecretBox', () => {
  const box = new SecretBox(randomBytes(32));

  it('round-trips a secret without leaving it readable', () => {
    const sealed = box.seal('api-key-123', 'integration:1');
    expect(sealed).not.toContain('api-key-123');
    expect(box.open(sealed, 'integration:1')).toBe('api-key-123');
  });

  it('refuses a ciphertext moved to another row', () => {
    const sealed = box.seal('api-key-123', 'integration:1');
    expect(() => box.open(sealed, 'integration:2')).toThrow();
  });

  it('refuses a tampered ciphertext', () => {
    const sealed = box.seal('api-key-123', 'x');
    const raw = Buffer.from(sealed.slice(3), 'base64');
    raw[raw.length - 1] ^= 1;
    expect(() => box.open(`v1.${raw.toString('base64')}`, 'x')).toThrow();
  });

  it('opens with the previous key during a rotation, and seals with the current one only', () => {
    const oldKey = randomBytes(32);
    const newKey = randomBytes(32);
    const sealedOld = new SecretBox(oldKey).seal('api-key-123', 'x');
    expect(() => new SecretBox(newKey).open(sealedOld, 'x')).toThrow();
    const rotating = new SecretBox(newKey, oldKey);
    expect(rotating.open(sealedOld, 'x')).toBe('api-key-123');
    expect(rotating.opensWithCurrentKey(sealedOld, 'x')).toBe(false);
    const sealedNew = rotating.seal('api-key-123', 'x');
    expect(rotating.opensWithCurrentKey(sealedNew, 'x')).toBe(true);
    expect(new SecretBox(newKey).open(sealedNew, 'x')).toBe('api-key-123');
    expect(() => new SecretBox(oldKey).open(sealedNew, 'x')).toThrow();
    // The previous key does not open another row's ciphertext either.
    expect(() => rotating.open(sealedOld, 'y')).toThrow();
  });

  it('accepts the admin token and, during a rollover, the previous one', () => {
    const config = { adminToken: 'current-token-0123456789ab', adminTokenPrevious: null };
    expect(isAdminToken('current-token-0123456789ab', config)).toBe(true);
    expect(isAdminToken('previous-token-0123456789', config)).toBe(false);
    expect(isAdminToken('', config)).toBe(false);
    const rolling = { ...config, adminTokenPrevious: 'previous-token-0123456789' };
    expect(isAdminToken('previous-token-0123456789', rolling)).toBe(true);
    expect(isAdminToken('current-token-0123456789ab', rolling)).toBe(true);
    expect(isAdminToken('other-token-0123456789abc', rolling)).toBe(false);
  });

  it('compares strings of any length', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
  });
});
