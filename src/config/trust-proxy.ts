import { isIP } from 'node:net';

/**
 * Fastify's `trustProxy`: whose X-Forwarded-For (and -Proto, -Host) the hub believes, which
 * decides the client address (request.ip) that PBX sender allow-lists check.
 * false: nobody, the socket's peer is the client; true: any peer (only when every request
 * comes through a proxy that overwrites the header); a number: that many proxy hops; a list:
 * the proxies' addresses or CIDRs (or proxy-addr's names loopback, linklocal, uniquelocal).
 */
export type TrustProxy = boolean | number | string[];

const NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function isAddressOrCidr(entry: string): boolean {
  if (NAMES.has(entry)) return true;
  const [address, bits, extra] = entry.split('/');
  const version = isIP(address);
  if (version === 0 || extra !== undefined) return false;
  if (bits === undefined) return true;
  return /^\d{1,3}$/.test(bits) && Number(bits) <= (version === 4 ? 32 : 128);
}

/** HUB_TRUST_PROXY → the option, or null when the value is not one of the accepted forms. */
export function parseTrustProxy(raw: string | undefined): TrustProxy | null {
  const value = (raw ?? '').trim();
  if (value === '' || value === 'false') return false;
  if (value === 'true') return true;
  if (/^\d{1,2}$/.test(value)) {
    const hops = Number(value);
    return hops >= 1 && hops <= 16 ? hops : null;
  }
  const entries = value.split(',').map((s) => s.trim());
  return entries.every(isAddressOrCidr) ? entries : null;
}
