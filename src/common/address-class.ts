import { BlockList, isIP } from 'node:net';

/** Why an address is internal; null from classifyAddress means it is public. */
export type AddressClass =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'cgnat'
  | 'link_local'
  | 'multicast'
  | 'broadcast'
  | 'reserved';

type Ranges = [AddressClass, string, number][];

// First match wins: broadcast sits inside 240/4, so it comes before reserved.
const IPV4: Ranges = [
  ['broadcast', '255.255.255.255', 32],
  ['unspecified', '0.0.0.0', 8],
  ['loopback', '127.0.0.0', 8],
  ['private', '10.0.0.0', 8],
  ['private', '172.16.0.0', 12],
  ['private', '192.168.0.0', 16],
  ['cgnat', '100.64.0.0', 10],
  ['link_local', '169.254.0.0', 16],
  ['multicast', '224.0.0.0', 4],
  // IETF protocol assignments (192.0.0.192 is Oracle Cloud's metadata), documentation,
  // the 6to4 relay anycast, benchmarking, and the old class E.
  ['reserved', '192.0.0.0', 24],
  ['reserved', '192.0.2.0', 24],
  ['reserved', '192.88.99.0', 24],
  ['reserved', '198.18.0.0', 15],
  ['reserved', '198.51.100.0', 24],
  ['reserved', '203.0.113.0', 24],
  ['reserved', '240.0.0.0', 4],
];

const IPV6: Ranges = [
  ['unspecified', '::', 128],
  ['loopback', '::1', 128],
  ['private', 'fc00::', 7],
  // Site-local, deprecated but still routed inside some networks.
  ['private', 'fec0::', 10],
  ['link_local', 'fe80::', 10],
  ['multicast', 'ff00::', 8],
  // Local-use NAT64 prefix: translated into whatever the operator's network holds.
  ['private', '64:ff9b:1::', 48],
  // IPv4-compatible (deprecated), discard-only, IETF protocol assignments (Teredo among
  // them), documentation, SRv6 SIDs.
  ['reserved', '::', 96],
  ['reserved', '100::', 64],
  ['reserved', '2001::', 23],
  ['reserved', '2001:db8::', 32],
  ['reserved', '3fff::', 20],
  ['reserved', '5f00::', 16],
];

function compile(ranges: Ranges, family: 'ipv4' | 'ipv6'): [AddressClass, BlockList][] {
  return ranges.map(([cls, net, prefix]) => {
    const list = new BlockList();
    list.addSubnet(net, prefix, family);
    return [cls, list];
  });
}

const V4 = compile(IPV4, 'ipv4');
const V6 = compile(IPV6, 'ipv6');
/** Global unicast: everything outside 2000::/3 is not routable on the internet. */
const GLOBAL_V6 = compile([['reserved', '2000::', 3]], 'ipv6')[0][1];

/** The eight 16-bit words of a valid IPv6 address (an embedded dotted quad included). */
function ipv6Words(address: string): number[] {
  let text = address;
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number);
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.split('::') as [string, string | undefined];
  const parse = (part: string | undefined) =>
    part ? part.split(':').map((w) => parseInt(w, 16)) : [];
  const h = parse(head);
  const t = parse(tail);
  return tail === undefined
    ? h
    : [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

function quadOf(hi: number, lo: number): string {
  return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
}

/**
 * The IPv4 address an IPv6 one stands for, where the IPv6 form reaches that IPv4 host:
 * IPv4-mapped (::ffff:a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d), NAT64 (64:ff9b::/96)
 * and 6to4 (2002:AABB:CCDD::/48).
 */
export function embeddedIpv4(address: string): string | null {
  const w = ipv6Words(address);
  const zeros = (from: number, to: number) => w.slice(from, to).every((x) => x === 0);
  if (zeros(0, 5) && w[5] === 0xffff) return quadOf(w[6], w[7]);
  if (zeros(0, 4) && w[4] === 0xffff && w[5] === 0) return quadOf(w[6], w[7]);
  if (w[0] === 0x64 && w[1] === 0xff9b && zeros(2, 6)) return quadOf(w[6], w[7]);
  if (w[0] === 0x2002) return quadOf(w[1], w[2]);
  return null;
}

/** A host as written in a URL or config: brackets, a zone id and trailing dots removed, lower case. */
export function normalizeHost(host: string): string {
  let h = host.trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (isIP(h.replace(/%.*$/, '')) === 6) h = h.replace(/%.*$/, '');
  return h.replace(/\.+$/, '');
}

/** The address a connection really reaches: an IPv6 form of an IPv4 host becomes that IPv4 address. */
export function canonicalAddress(
  address: string,
): { address: string; family: 'ipv4' | 'ipv6' } | null {
  const a = normalizeHost(address);
  const version = isIP(a);
  if (version === 4) return { address: a, family: 'ipv4' };
  if (version !== 6) return null;
  const v4 = embeddedIpv4(a);
  return v4 ? { address: v4, family: 'ipv4' } : { address: a, family: 'ipv6' };
}

/**
 * Whether an IP address is internal (loopback, private, CGNAT, link-local, unspecified,
 * multicast, broadcast or reserved) and which, or null when it is public. IPv6 forms of
 * IPv4 addresses are classified as the IPv4 address; anything that is not an IP address is
 * 'reserved' (never reached by accident).
 */
export function classifyAddress(address: string): AddressClass | null {
  const canonical = canonicalAddress(address);
  if (!canonical) return 'reserved';
  const table = canonical.family === 'ipv4' ? V4 : V6;
  for (const [cls, list] of table) if (list.check(canonical.address, canonical.family)) return cls;
  if (canonical.family === 'ipv6' && !GLOBAL_V6.check(canonical.address, 'ipv6')) return 'reserved';
  return null;
}

/**
 * Names of cloud metadata services and cluster internals: refused by name, whatever they
 * resolve to, so a resolver that maps them somewhere unexpected changes nothing.
 */
export const METADATA_HOSTS: ReadonlySet<string> = new Set([
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'metadata.azure.internal',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.ec2.internal',
  'metadata.tencentyun.com',
  'metadata.platformequinix.com',
  'kubernetes.default',
  'kubernetes.default.svc',
  'kubernetes.default.svc.cluster.local',
]);
