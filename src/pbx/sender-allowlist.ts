import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsOptional,
  registerDecorator,
  ValidationOptions,
} from 'class-validator';
import { BlockList, isIP } from 'node:net';
import { Field } from '../connector-sdk';

/** "185.45.152.0/24", "2a00:1450::/32" or a bare address (one host). */
function parseEntry(
  entry: string,
): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | null {
  if (typeof entry !== 'string' || entry.length > 64) return null;
  const [address, bits, extra] = entry.trim().split('/');
  if (extra !== undefined) return null;
  const version = isIP(address);
  if (version === 0) return null;
  const max = version === 4 ? 32 : 128;
  if (bits !== undefined && !/^\d{1,3}$/.test(bits)) return null;
  const prefix = bits === undefined ? max : Number(bits);
  if (prefix > max) return null;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

export function isCidr(value: unknown): boolean {
  return typeof value === 'string' && parseEntry(value) !== null;
}

/** "::ffff:10.1.2.3" (an IPv4 peer on a dual-stack socket) is 10.1.2.3. */
function plainAddress(ip: string): string {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  return m ? m[1] : ip;
}

/**
 * The addresses a PBX source takes requests from (a source config's `allowedSenders`). The
 * client address is the socket's peer, or what HUB_TRUST_PROXY lets the proxy in front report.
 */
export class SenderAllowList {
  private readonly list = new BlockList();

  private constructor(readonly entries: readonly string[]) {
    for (const entry of entries) {
      const parsed = parseEntry(entry);
      if (!parsed) throw new Error(`not an IP address or CIDR range: ${entry}`);
      this.list.addSubnet(parsed.address, parsed.prefix, parsed.family);
    }
  }

  /** null when the config sets no list (anyone may send). Throws on an entry that is not a CIDR. */
  static from(value: unknown): SenderAllowList | null {
    if (value === undefined || value === null) return null;
    if (!Array.isArray(value)) throw new Error('allowedSenders must be a list');
    return new SenderAllowList(value as string[]);
  }

  allows(ip: string | undefined): boolean {
    if (!ip) return false;
    const address = plainAddress(ip);
    const version = isIP(address);
    if (version === 0) return false;
    return this.list.check(address, version === 4 ? 'ipv4' : 'ipv6');
  }
}

/** Each entry an IPv4/IPv6 address or CIDR range; use with `{ each: true }` on a list. */
export function IsCidr(options?: ValidationOptions): PropertyDecorator {
  return (target, propertyName) =>
    registerDecorator({
      name: 'isCidr',
      target: target.constructor,
      propertyName: propertyName as string,
      options: {
        message: '$property must hold IP addresses or CIDR ranges such as 185.45.152.0/24',
        ...options,
      },
      validator: { validate: isCidr },
    });
}

/**
 * A source's `allowedSenders`: where its webhooks may come from (IPs or CIDRs); a request from
 * elsewhere is refused with 403 even when it authenticates. Unset or null: any address.
 */
export function AllowedSenders(): PropertyDecorator {
  const rules = [
    Field({
      description:
        'A list of IP addresses or CIDR ranges the PBX sends its webhooks from, e.g. ["185.45.152.0/24"]; a request from anywhere else is refused with 403 even when it authenticates. Unset or null: any address',
    }),
    IsOptional(),
    IsArray(),
    ArrayMinSize(1, { message: '$property must hold at least one range (or be null for any)' }),
    ArrayMaxSize(100),
    IsCidr({ each: true }),
  ];
  return (target, propertyName) => rules.forEach((rule) => rule(target, propertyName));
}
