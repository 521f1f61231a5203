import { createHmac, timingSafeEqual } from 'node:crypto';
import { ConnectorError } from '../../src/connector-sdk';

/** Clocks of amoCRM and the hub may differ this much. */
const SKEW_S = 30;
/** A disposable token is meant for one request: one that claims to live longer is refused. */
const MAX_LIFETIME_S = 24 * 3600;

export interface DisposableToken {
  userId: string;
  accountId?: string;
  /** The account's address, e.g. https://example.amocrm.ru. */
  issuer?: string;
}

function refuse(why: string): ConnectorError {
  return ConnectorError.authInvalid(`widget token refused: ${why}`, 'authorization');
}

function decodePart(part: string): Record<string, unknown> {
  try {
    const value = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      return value as Record<string, unknown>;
    }
  } catch {
    // falls through
  }
  throw refuse('malformed');
}

const idOf = (value: unknown): string | undefined =>
  typeof value === 'number' && Number.isInteger(value) && value > 0
    ? String(value)
    : typeof value === 'string' && /^\d{1,20}$/.test(value)
      ? value
      : undefined;

/**
 * Checks an amoCRM disposable token (the JWT a widget's `$authorizedAjax` sends): HS256
 * signed with the integration's secret key, addressed (`aud`) to the hub's origin, within
 * its `nbf`/`exp`, issued for this integration (`client_uuid`) and account (`iss`).
 */
export function verifyDisposableToken(
  token: string,
  o: { secret: string; audience: string; clientId: string; accountHost: string; nowS: number },
): DisposableToken {
  const parts = token.split('.');
  if (parts.length !== 3 || parts.some((p) => !/^[A-Za-z0-9_-]+$/.test(p))) {
    throw refuse('malformed');
  }
  const header = decodePart(parts[0]);
  if (header.alg !== 'HS256') throw refuse('not signed with HS256');
  const expected = createHmac('sha256', o.secret).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2], 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw refuse('bad signature');
  }
  const claims = decodePart(parts[1]);
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  if (!audiences.some((a) => typeof a === 'string' && a.replace(/\/+$/, '') === o.audience)) {
    throw refuse('addressed to another site');
  }
  const exp = Number(claims.exp);
  if (!Number.isFinite(exp) || exp + SKEW_S <= o.nowS) throw refuse('expired');
  if (exp - o.nowS > MAX_LIFETIME_S) throw refuse('lives too long');
  if (claims.nbf !== undefined && Number(claims.nbf) - SKEW_S > o.nowS) {
    throw refuse('not valid yet');
  }
  if (claims.client_uuid !== undefined && claims.client_uuid !== o.clientId) {
    throw refuse('issued for another integration');
  }
  if (typeof claims.iss === 'string') {
    let host = '';
    try {
      host = new URL(claims.iss).hostname.toLowerCase();
    } catch {
      throw refuse('malformed issuer');
    }
    if (host !== o.accountHost.toLowerCase()) throw refuse('issued by another account');
  }
  const userId = idOf(claims.user_id);
  if (!userId) throw refuse('no user_id');
  return {
    userId,
    accountId: idOf(claims.account_id),
    issuer: typeof claims.iss === 'string' ? claims.iss : undefined,
  };
}
