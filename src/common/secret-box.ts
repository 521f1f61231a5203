import { createCipheriv, createDecipheriv, hash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * AES-256-GCM for secrets at rest (CRM credentials, webhook secrets).
 * `context` is bound as additional authenticated data so a ciphertext copied
 * to another row (another tenant, another integration) does not decrypt.
 *
 * Sealing always uses the current key. During a key rotation the box also holds the key
 * being replaced (HUB_ENCRYPTION_KEY_PREVIOUS): what does not open with the current key is
 * opened with that one, until `npm run keys:rotate` has sealed everything again.
 */
export class SecretBox {
  private readonly previous: Buffer | null;

  constructor(
    private readonly key: Buffer,
    previous: Buffer | null = null,
  ) {
    if (key.length !== 32) throw new Error('SecretBox needs a 32-byte key');
    if (previous && previous.length !== 32) throw new Error('SecretBox needs a 32-byte key');
    this.previous = previous;
  }

  /** A box with the configured key and, during a rotation, the one being replaced. */
  static fromConfig(config: { encryptionKey: Buffer; encryptionKeyPrevious: Buffer | null }) {
    return new SecretBox(config.encryptionKey, config.encryptionKeyPrevious);
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `v1.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}`;
  }

  open(sealed: string, context: string): string {
    try {
      return openWith(this.key, sealed, context);
    } catch (err) {
      if (!this.previous) throw err;
      return openWith(this.previous, sealed, context);
    }
  }

  /** Whether the secret opens with the current key alone (nothing to rotate). */
  opensWithCurrentKey(sealed: string, context: string): boolean {
    try {
      openWith(this.key, sealed, context);
      return true;
    } catch {
      return false;
    }
  }

  sealJson(value: unknown, context: string): string {
    return this.seal(JSON.stringify(value), context);
  }

  openJson<T>(sealed: string, context: string): T {
    return JSON.parse(this.open(sealed, context)) as T;
  }
}

function openWith(key: Buffer, sealed: string, context: string): string {
  if (!sealed.startsWith('v1.')) throw new Error('unknown secret format');
  const raw = Buffer.from(sealed.slice(3), 'base64');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
  decipher.setAAD(Buffer.from(context, 'utf8'));
  decipher.setAuthTag(raw.subarray(12, 28));
  return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
}

export function randomToken(prefix: string, bytes = 32): string {
  return `${prefix}${randomBytes(bytes).toString('base64url')}`;
}

/** One-shot hashing: about three times cheaper than createHash for a key-sized string. */
export function sha256Hex(value: string): string {
  return hash('sha256', value, 'hex');
}

/** Constant-time string comparison that does not leak the length through early exit. */
export function safeEqual(a: string, b: string): boolean {
  const ha = hash('sha256', a, 'buffer');
  const hb = hash('sha256', b, 'buffer');
  return timingSafeEqual(ha, hb) && a.length === b.length;
}

/**
 * The operator token (HUB_ADMIN_TOKEN) or, during a rollover, the one being replaced
 * (HUB_ADMIN_TOKEN_PREVIOUS). Both are always compared, so timing tells nothing.
 */
export function isAdminToken(
  token: string,
  config: { adminToken: string; adminTokenPrevious: string | null },
): boolean {
  const current = safeEqual(token, config.adminToken);
  const previous = safeEqual(token, config.adminTokenPrevious ?? '') && !!config.adminTokenPrevious;
  return current || previous;
}
