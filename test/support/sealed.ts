import { SecretBox } from '../../src/common/secret-box';

/**
 * Asserts that a stored value is sealed as the hub seals secrets (AES-256-GCM, `v1.` and
 * base64 of IV, tag and ciphertext), that it opens to `plaintext` with the hub's key and
 * its row's context, and that neither another key nor another row's context opens it.
 */
export function expectSealed(
  stored: string,
  key: Buffer,
  context: string,
  plaintext: string,
): void {
  expect(stored).toMatch(/^v1\.[A-Za-z0-9+/]+=*$/);
  // IV (12 bytes) and tag (16) come before the ciphertext, which is as long as the plaintext.
  expect(Buffer.from(stored.slice(3), 'base64').length).toBe(28 + Buffer.byteLength(plaintext));
  expect(stored).not.toContain(plaintext);
  expect(new SecretBox(key).open(stored, context)).toBe(plaintext);
  const otherKey = Buffer.from(key.map((b) => b ^ 0x5a));
  expect(() => new SecretBox(otherKey).open(stored, context)).toThrow();
  expect(() => new SecretBox(key).open(stored, `${context}x`)).toThrow();
}
