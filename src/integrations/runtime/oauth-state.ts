import { Inject, Injectable } from '@nestjs/common';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { Clock } from '../../common/clock';
import { AppConfig } from '../../config/config';
import { APP_CONFIG } from '../../config/config.module';

/** An authorization started more than this long ago is refused (codes live minutes, not hours). */
const STATE_TTL_S = 3600;

/**
 * The OAuth `state` parameter: the hub's signed reference to the integration being
 * connected, so the redirect can only complete a grant the hub asked for.
 */
@Injectable()
export class OAuthState {
  private readonly key: Buffer;
  /** From HUB_ENCRYPTION_KEY_PREVIOUS: a grant started just before a key rotation completes. */
  private readonly previousKey: Buffer | null;

  constructor(
    @Inject(APP_CONFIG) config: AppConfig,
    private readonly clock: Clock,
  ) {
    this.key = stateKey(config.encryptionKey);
    this.previousKey = config.encryptionKeyPrevious ? stateKey(config.encryptionKeyPrevious) : null;
  }

  sign(integrationId: string): string {
    const payload = Buffer.from(
      JSON.stringify({ i: integrationId, e: this.clock.nowS() + STATE_TTL_S }),
    ).toString('base64url');
    return `${payload}.${this.mac(payload)}`;
  }

  /** The integration id, or null for a forged, malformed or expired state. */
  verify(state: string): string | null {
    const m = /^([A-Za-z0-9_-]{1,200})\.([A-Za-z0-9_-]{43})$/.exec(state);
    if (!m) return null;
    const given = Buffer.from(m[2]);
    const signedBy = (key: Buffer) => {
      const expected = Buffer.from(this.mac(m[1], key));
      return expected.length === given.length && timingSafeEqual(expected, given);
    };
    if (!signedBy(this.key) && !(this.previousKey && signedBy(this.previousKey))) return null;
    try {
      const { i, e } = JSON.parse(Buffer.from(m[1], 'base64url').toString('utf8')) as {
        i: unknown;
        e: unknown;
      };
      if (typeof i !== 'string' || typeof e !== 'number' || e < this.clock.nowS()) return null;
      return i;
    } catch {
      return null;
    }
  }

  private mac(payload: string, key = this.key): string {
    return createHmac('sha256', key).update(payload).digest('base64url');
  }
}

function stateKey(encryptionKey: Buffer): Buffer {
  return createHash('sha256').update('oauth-state').update(encryptionKey).digest();
}
