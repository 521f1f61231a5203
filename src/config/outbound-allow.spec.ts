import { ConfigError, loadConfig } from './config';
import { parseOutboundAllow } from './outbound-allow';

const base = {
  HUB_ADMIN_TOKEN: 'a'.repeat(30),
  HUB_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
};

describe('parseOutboundAllow (HUB_OUTBOUND_ALLOW)', () => {
  it('is empty by default', () => {
    expect(parseOutboundAllow('')).toEqual([]);
    expect(parseOutboundAllow(undefined)).toEqual([]);
    expect(loadConfig(base).outboundAllow).toEqual([]);
  });

  it('reads CIDRs, addresses with or without a port, and host names with or without a port', () => {
    expect(
      parseOutboundAllow(
        ' 10.0.0.0/8, fd00::/8,127.0.0.1, 10.0.0.5:8080, [::1]:3000, [fd00::5], pbx.LAN., pbx.lan:5038 ',
      ),
    ).toEqual([
      { kind: 'net', address: '10.0.0.0', family: 'ipv4', prefix: 8, port: undefined },
      { kind: 'net', address: 'fd00::', family: 'ipv6', prefix: 8, port: undefined },
      { kind: 'net', address: '127.0.0.1', family: 'ipv4', prefix: 32, port: undefined },
      { kind: 'net', address: '10.0.0.5', family: 'ipv4', prefix: 32, port: 8080 },
      { kind: 'net', address: '::1', family: 'ipv6', prefix: 128, port: 3000 },
      { kind: 'net', address: 'fd00::5', family: 'ipv6', prefix: 128, port: undefined },
      { kind: 'host', host: 'pbx.lan', port: undefined },
      { kind: 'host', host: 'pbx.lan', port: 5038 },
    ]);
  });

  it('reads an IPv4-mapped IPv6 entry as the IPv4 network it stands for', () => {
    expect(parseOutboundAllow('::ffff:10.0.0.0/104')).toEqual([
      { kind: 'net', address: '10.0.0.0', family: 'ipv4', prefix: 8, port: undefined },
    ]);
  });

  it.each([
    ['10.0.0.0/33', /prefix length must be 0-32/],
    ['fd00::/129', /prefix length must be 0-128/],
    ['10.0.0.0/8:80', /prefix length must be 0-32/],
    ['pbx.lan:0', /port must be 1-65535/],
    ['pbx.lan:70000', /port must be 1-65535/],
    ['[pbx.lan]:80', /not an IPv6 address/],
    ['http://pbx.lan', /not a CIDR, an IP address or host\[:port\]/],
    ['999.1.1.1', /not a CIDR, an IP address or host\[:port\]/],
    ['bad host', /not a CIDR, an IP address or host\[:port\]/],
  ])('refuses %s, naming the entry', (entry, problem) => {
    expect(() => parseOutboundAllow(`127.0.0.1,${entry}`)).toThrow(problem);
    expect(() => parseOutboundAllow(entry)).toThrow(`"${entry}"`);
  });

  it('stops the boot with a message naming HUB_OUTBOUND_ALLOW', () => {
    const env = { ...base, HUB_OUTBOUND_ALLOW: '10.0.0.0/8,not a host' };
    expect(() => loadConfig(env)).toThrow(ConfigError);
    expect(() => loadConfig(env)).toThrow(/HUB_OUTBOUND_ALLOW: "not a host"/);
  });
});
