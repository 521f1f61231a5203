import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_WINDOW_S = 300;

/** "sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>" */
export function signHubPayload(
  secret: string,
  timestamp: number | string,
  body: string | Buffer,
): string {
  const mac = createHmac('sha256', secret);
  mac.update(`${timestamp}.`);
  mac.update(body);
  return `sha256=${mac.digest('hex')}`;
}

export type SignatureCheck = 'ok' | 'missing' | 'malformed' | 'stale' | 'mismatch';

export function checkHubSignature(
  secret: string,
  timestampHeader: string | undefined,
  signatureHeader: string | undefined,
  body: Buffer,
  nowS: number,
): SignatureCheck {
  if (!timestampHeader || !signatureHeader) return 'missing';
  if (!/^\d{1,12}$/.test(timestampHeader) || !/^sha256=[0-9a-f]{64}$/i.test(signatureHeader)) {
    return 'malformed';
  }
  if (Math.abs(nowS - Number(timestampHeader)) > SIGNATURE_WINDOW_S) return 'stale';
  const expected = Buffer.from(signHubPayload(secret, timestampHeader, body));
  const given = Buffer.from(signatureHeader.toLowerCase());
  return expected.length === given.length && timingSafeEqual(expected, given) ? 'ok' : 'mismatch';
}
