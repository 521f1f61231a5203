import type { CallInfo } from '../../src/connector-sdk';
import { callStatus, hasPhone, lastTen, leadName, toAmoCall, userId } from './amocrm.mapper';

const options = { accountHost: 'example.amocrm.ru', sourceName: 'Hub' };

function call(overrides: Partial<CallInfo> = {}): CallInfo {
  return {
    callId: '1718012345.42',
    direction: 'outbound',
    customerPhone: '+79161234567',
    line: null,
    extension: '101',
    crmUserId: null,
    ringing: [],
    status: 'ended',
    result: 'busy',
    startedAt: new Date('2026-12-01T10:00:00Z'),
    answeredAt: null,
    endedAt: new Date('2026-12-01T10:00:09Z'),
    duration: null,
    recordingUrl: null,
    ...overrides,
  };
}

describe('amoCRM mapping', () => {
  it('matches numbers by their last ten digits, as amoCRM does', () => {
    expect(lastTen('8 (916) 123-45-67')).toBe('9161234567');
    const contact = {
      id: 1,
      custom_fields_values: [{ field_code: 'PHONE', values: [{ value: '+7 916 123-45-67' }] }],
    };
    expect(hasPhone(contact, '89161234567')).toBe(true);
    expect(hasPhone(contact, '+79161234568')).toBe(false);
    // A number in another field is not the contact's phone.
    expect(
      hasPhone(
        {
          id: 2,
          custom_fields_values: [{ field_code: 'EMAIL', values: [{ value: '79161234567' }] }],
        },
        '+79161234567',
      ),
    ).toBe(false);
  });

  it('maps results to amoCRM call statuses', () => {
    expect(
      ['answered', 'busy', 'missed', 'cancelled', 'failed'].map((r) => callStatus(r as never)),
    ).toEqual([4, 7, 3, 6, 6]);
  });

  it('logs an unanswered outbound call without an owner it does not know', () => {
    expect(toAmoCall(call(), options, '0')).toEqual({
      direction: 'outbound',
      uniq: '1718012345.42',
      duration: 0,
      source: 'Hub',
      phone: '+79161234567',
      call_status: 7,
      call_result: 'Busy',
      created_at: 1796119200,
      request_id: '0',
    });
    expect(userId('abc')).toBeUndefined();
    expect(userId('5001')).toBe(5001);
  });

  it('names a lead with a marker of its call', () => {
    expect(leadName(call({ result: 'missed' }))).toBe(
      'Missed call from +79161234567 [#1718012345.42]',
    );
    expect(leadName(call({ customerPhone: null, result: 'answered' }))).toBe(
      'Call from a hidden number [#1718012345.42]',
    );
  });
});
