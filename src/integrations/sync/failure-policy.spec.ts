import { loadConfig } from '../../config/config';
import { ConnectorError } from '../../connector-sdk';
import { RetryLaterError } from '../../queue/queue.constants';
import { DEFAULT_MAX_AGE_S, FailurePolicy } from './failure-policy';

const base = {
  HUB_ADMIN_TOKEN: 'a'.repeat(30),
  HUB_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
};
const HOUR = 3600_000;

describe('FailurePolicy', () => {
  const policy = new FailurePolicy(loadConfig(base));
  const created = Date.parse('2026-12-01T08:00:00Z');
  const row = { created_at: new Date(created), resumed_at: null };

  it('keeps retrying through a day-long CRM outage, with a margin, by default', () => {
    expect(policy.maxAgeS).toBe(DEFAULT_MAX_AGE_S);
    expect(policy.expired(row, created + 24 * HOUR)).toBe(false);
    expect(policy.expired(row, created + 24.5 * HOUR)).toBe(false);
    expect(policy.expired(row, created + 25.9 * HOUR)).toBe(false);
    expect(policy.expired(row, created + 27 * HOUR)).toBe(true);
    expect(policy.expiredReason('log')).toBe('gave up after 93600 s: log never succeeded');
  });

  it('counts the age from a resume (an admin retried it), and honours HUB_CRM_MAX_AGE_S', () => {
    const resumed = { ...row, resumed_at: new Date(created + 30 * HOUR) };
    expect(policy.expired(resumed, created + 31 * HOUR)).toBe(false);
    const short = new FailurePolicy(loadConfig({ ...base, HUB_CRM_MAX_AGE_S: '60' }));
    expect(short.expired(row, created + 59_000)).toBe(false);
    expect(short.expired(row, created + 61_000)).toBe(true);
  });

  it('decides by how the connector classified the failure', () => {
    expect(policy.decide(new ConnectorError('rejected', 'phone: invalid'), 1)).toMatchObject({
      kind: 'fail',
      metric: 'rejected',
    });
    expect(policy.decide(new ConnectorError('auth_invalid', 'revoked'), 1).kind).toBe('reauth');
    expect(
      policy.decide(new ConnectorError('rate_limited', 'slow down', { retryAfterMs: 3000 }), 5),
    ).toMatchObject({ kind: 'wait', delayMs: 3000 });
    expect(policy.decide(new RetryLaterError('waiting', 250), 9)).toMatchObject({
      kind: 'wait',
      delayMs: 250,
    });
    expect(policy.decide(new ConnectorError('temporary', 'HTTP 503'), 10)).toMatchObject({
      kind: 'retry',
      delayMs: 60_000,
    });
    // The first retry comes after a second and a jitter of at most 250 ms.
    const first = policy.backoff(1);
    expect(first).toBeGreaterThanOrEqual(1000);
    expect(first).toBeLessThan(1250);
  });
});
