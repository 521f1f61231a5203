import { randomBytes } from 'node:crypto';
import { safeEqual, SecretBox } from './secret-box';

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

  it('compares strings of any length', () => {
    expect(safeEqual('abc', 'abc')).toBe(true);
    expect(safeEqual('abc', 'abd')).toBe(false);
    expect(safeEqual('abc', 'abcd')).toBe(false);
  });
});
