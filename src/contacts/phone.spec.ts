import { normalizeParty, toE164 } from './phone';

describe('phone normalization', () => {
  it.each([
    '8 (495) 123-45-67',
    '74951234567',
    '+7 495 123 45 67',
    '84951234567',
    '+7(495)1234567',
  ])('reads %s in RU as +74951234567', (raw) => expect(toE164(raw, 'RU')).toBe('+74951234567'));

  it('keeps international numbers whatever the default country', () => {
    expect(toE164('+1 212 555 0100', 'RU')).toBe('+12125550100');
    expect(toE164('74951234567', 'US')).toBe('+74951234567');
  });

  it.each(['abc', '', '123', '+7 000', '8800', '12345678901234567890'])('rejects %j', (raw) => {
    expect(toE164(raw, 'RU')).toBeNull();
  });

  it('keeps extensions as sent', () => {
    expect(normalizeParty('101', 'RU')).toBe('101');
    expect(normalizeParty('8 (495) 123-45-67', 'RU')).toBe('+74951234567');
  });
});
