import { Inject, Injectable } from '@nestjs/common';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Clock } from '../common/clock';
import { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';

/** Links live for five years: CRMs store them in call history and play them much later. */
export const LINK_TTL_S = 5 * 365 * 86400;

export interface RecordingRef {
  tenantId: string;
  callId: string;
}

/**
 * Public, signed links to a call's recording that a CRM can fetch without any
 * credential. The hub resolves them to the URL the PBX reported for that call.
 */
@Injectable()
export class RecordingLinks {
  private readonly key: Buffer;
  /** From HUB_ENCRYPTION_KEY_PREVIOUS: links handed out before a key rotation keep playing. */
  private readonly previousKey: Buffer | null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly clock: Clock,
  ) {
    this.key = linkKey(config.encryptionKey);
    this.previousKey = config.encryptionKeyPrevious ? linkKey(config.encryptionKeyPrevious) : null;
  }

  link(ref: RecordingRef, nowS = this.clock.nowS()): string {
    const payload = Buffer.from(
      JSON.stringify({ t: ref.tenantId, c: ref.callId, e: nowS + LINK_TTL_S }),
    ).toString('base64url');
    // Ends in .mp3: some CRM players (amoCRM's) go by the name; the hub serves MP3 for it.
    return `${this.config.publicUrl}/v1/recordings/${payload}.${this.sign(payload)}.mp3`;
  }

  /** The call a token points at, or null when it is forged, malformed or expired. */
  verify(token: string, nowS = this.clock.nowS()): RecordingRef | null {
    const m = /^([A-Za-z0-9_-]{1,600})\.([A-Za-z0-9_-]{43})$/.exec(
      token.replace(/\.mp3$|\.wav$/, ''),
    );
    if (!m) return null;
    const given = Buffer.from(m[2]);
    const signedBy = (key: Buffer) => {
      const expected = Buffer.from(this.sign(m[1], key));
      return expected.length === given.length && timingSafeEqual(expected, given);
    };
    if (!signedBy(this.key) && !(this.previousKey && signedBy(this.previousKey))) return null;
    try {
      const { t, c, e } = JSON.parse(Buffer.from(m[1], 'base64url').toString('utf8')) as {
        t: string;
        c: string;
        e: number;
      };
      if (typeof t !== 'string' || typeof c !== 'string' || typeof e !== 'number' || e < nowS)
        return null;
      return { tenantId: t, callId: c };
    } catch {
      return null;
    }
  }

  private sign(payload: string, key = this.key): string {
    return createHmac('sha256', key).update(payload).digest('base64url');
  }
}

/** A key of its own, derived so a leaked link key reveals nothing about the encryption key. */
function linkKey(encryptionKey: Buffer): Buffer {
  return createHash('sha256').update('recording-links').update(encryptionKey).digest();
}
