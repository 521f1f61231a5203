import { isCidr, SenderAllowList } from './sender-allowlist';

describe('SenderAllowList', () => {
  it('takes addresses inside its ranges and refuses the rest', () => {
    const list = SenderAllowList.from([
      '185.45.152.0/24',
      '10.0.0.0/8',
      '2001:db8::/32',
      '192.0.2.7',
    ])!;
    expect(list.allows('185.45.152.42')).toBe(true);
    expect(list.allows('185.45.153.1')).toBe(false);
    expect(list.allows('10.200.3.4')).toBe(true);
    expect(list.allows('127.0.0.1')).toBe(false);
    expect(list.allows('192.0.2.7')).toBe(true);
    expect(list.allows('192.0.2.8')).toBe(false);
    expect(list.allows('2001:db8:1::5')).toBe(true);
    expect(list.allows('2001:db9::1')).toBe(false);
    // An IPv4 peer on a dual-stack socket.
    expect(list.allows('::ffff:10.1.2.3')).toBe(true);
    expect(list.allows('::ffff:127.0.0.1')).toBe(false);
    expect(list.allows(undefined)).toBe(false);
    expect(list.allows('not-an-ip')).toBe(false);
  });

  it('means "anyone" only when no list is set', () => {
    expect(SenderAllowList.from(undefined)).toBeNull();
    expect(SenderAllowList.from(null)).toBeNull();
    expect(() => SenderAllowList.from(['10.0.0.0/33'])).toThrow(/10.0.0.0\/33/);
  });

  it.each([
    ['185.45.152.0/24', true],
    ['185.45.152.42', true],
    ['::1/128', true],
    ['10.0.0.0/33', false],
    ['10.0.0/8', false],
    ['10.0.0.0/8/1', false],
    ['example.com', false],
    ['10.0.0.0/-1', false],
    ['', false],
  ])('isCidr(%j) is %s', (value, ok) => {
    expect(isCidr(value)).toBe(ok);
  });
});
