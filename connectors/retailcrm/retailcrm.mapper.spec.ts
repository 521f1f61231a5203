import { parseRetryAfter } from '../../src/connector-sdk';
import { formatDateTime, numericId, phoneVariants } from './retailcrm.mapper';

describe('RetailCRM mapping helpers', () => {
  it('formats dates in UTC by default and in a given zone across DST', () => {
    const summer = new Date('2026-07-01T22:30:05Z');
    expect([
      formatDateTime(summer),
      formatDateTime(summer, 'Europe/Berlin'),
      formatDateTime(new Date('2026-01-01T22:30:05Z'), 'Europe/Berlin', false),
    ]).toEqual(['2026-07-01 22:30:05', '2026-07-02 00:30:05', '2026-01-01 23:30']);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-11-25T10:00:00Z');
    expect([
      parseRetryAfter('3', now),
      parseRetryAfter('Wed, 25 Nov 2026 10:00:05 GMT', now),
      parseRetryAfter('soon', now),
      parseRetryAfter(undefined, now),
    ]).toEqual([3000, 5000, undefined, undefined]);
  });

  it('spells Russian numbers with 7 then 8, others once', () => {
    expect([phoneVariants('+79161234567'), phoneVariants('+442071234567')]).toEqual([
      ['79161234567', '89161234567'],
      ['442071234567'],
    ]);
  });

  it('accepts only positive integer ids', () => {
    expect(['27', '0', 'abc', '1.5', null].map(numericId)).toEqual([
      27,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
  });
});
