import { createHmac } from 'node:crypto';
import { checkHubSignature, signHubPayload } from './hub-signature';

describe('hub signature', () => {
  const body = Buffer.from('{"id":"e1"}');
  const now = 1_800_000_000;

  it('matches the documented HMAC-SHA256 over "<timestamp>.<raw body>"', () => {
    // Independent reference: echo -n '1800000000.{"id":"e1"}' | openssl dgst -sha256 -hmac whsec_test
    expect(signHubPayload('whsec_test', now, body)).toBe(
      'sha256=' + createHmac('sha256', 'whsec_test').update(`${now}.{"id":"e1"}`).digest('hex'),
    );
  });

  it('accepts a fresh signature and refuses stale, forged or malformed ones', () => {
    const sig = signHubPayload('s', now, body);
    expect(checkHubSignature('s', String(now), sig, body, now + 10)).toBe('ok');
    expect(checkHubSignature('s', String(now), sig, body, now + 301)).toBe('stale');
    expect(checkHubSignature('other', String(now), sig, body, now)).toBe('mismatch');
    expect(checkHubSignature('s', String(now), sig, Buffer.from('{"id":"e2"}'), now)).toBe(
      'mismatch',
    );
    expect(checkHubSignature('s', 'yesterday', sig, body, now)).toBe('malformed');
    expect(checkHubSignature('s', undefined, sig, body, now)).toBe('missing');
  });
});
