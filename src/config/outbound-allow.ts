import { isIP } from 'node:net';

/**
 * One entry of HUB_OUTBOUND_ALLOW: a network (CIDR or a single address, optionally with a
 * port) or a host name (optionally with a port) that tenant-supplied addresses may reach
 * although it is internal.
 */
export type OutboundAllowEntry =
  | { kind: 'net'; address: string; family: 'ipv4' | 'ipv6'; prefix: number; port?: number }
  | { kind: 'host'; host: string; port?: number };

const UNKNOWN = 'not a CIDR, an IP address or host[:port]';
const HOST_NAME =
  /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

function parsePort(text: string, entry: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) throw new Error(`"${entry}": port must be 1-65535`);
  return port;
}

/** IPv4-mapped IPv6 (::ffff:a.b.c.d) is the IPv4 address: the same host either way. */
function unmapped(address: string, prefix: number): { address: string; prefix: number } | null {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (!m || prefix < 96) return null;
  return { address: m[1], prefix: prefix - 96 };
}

function netEntry(address: string, prefixText: string | undefined, entry: string, port?: number) {
  const version = isIP(address);
  if (version === 0) return null;
  const max = version === 4 ? 32 : 128;
  let prefix = max;
  if (prefixText !== undefined) {
    prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
    if (!(prefix >= 0 && prefix <= max))
      throw new Error(`"${entry}": prefix length must be 0-${max}`);
    if (port !== undefined) throw new Error(`"${entry}": a port goes with one address, not a CIDR`);
  }
  const mapped = version === 6 ? unmapped(address, prefix) : null;
  if (mapped) return { kind: 'net' as const, family: 'ipv4' as const, ...mapped, port };
  return {
    kind: 'net' as const,
    address: address.toLowerCase(),
    family: version === 4 ? ('ipv4' as const) : ('ipv6' as const),
    prefix,
    port,
  };
}

function parseEntry(entry: string): OutboundAllowEntry {
  // [v6]:port or [v6]
  let m = /^\[([^\]]+)\](?::(.*))?$/.exec(entry);
  if (m) {
    const port = m[2] !== undefined ? parsePort(m[2], entry) : undefined;
    const net = isIP(m[1]) === 6 ? netEntry(m[1], undefined, entry, port) : null;
    if (!net) throw new Error(`"${entry}": not an IPv6 address in brackets`);
    return net;
  }
  // CIDR or bare address (v4 or v6)
  m = /^([^/]+)\/(.+)$/.exec(entry);
  if (m) {
    const net = netEntry(m[1], m[2], entry);
    if (!net) throw new Error(`"${entry}": ${UNKNOWN}`);
    return net;
  }
  const bare = netEntry(entry, undefined, entry);
  if (bare) return bare;
  // a.b.c.d:port or host[:port]
  m = /^([^:]+)(?::(.*))?$/.exec(entry);
  if (!m) throw new Error(`"${entry}": ${UNKNOWN}`);
  const port = m[2] !== undefined ? parsePort(m[2], entry) : undefined;
  const v4 = netEntry(m[1], undefined, entry, port);
  if (v4) return v4;
  const host = m[1].toLowerCase().replace(/\.+$/, '');
  if (!HOST_NAME.test(host) || /^[\d.]+$/.test(host)) {
    throw new Error(`"${entry}": ${UNKNOWN}`);
  }
  return { kind: 'host', host, port };
}

/**
 * Parses HUB_OUTBOUND_ALLOW: comma-separated CIDRs (10.0.0.0/8, fd00::/8), addresses with an
 * optional port (10.0.0.5, 10.0.0.5:8080, [::1]:8080) and host names with an optional port
 * (pbx.lan, pbx.lan:5038). Throws naming the first bad entry.
 */
export function parseOutboundAllow(text: string | undefined): OutboundAllowEntry[] {
  return (text ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(parseEntry);
}
