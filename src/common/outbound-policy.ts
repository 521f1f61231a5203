import { Inject, Injectable, Optional, UnprocessableEntityException } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { promises as dns } from 'node:dns';
import type { LookupAddress } from 'node:dns';
import { BlockList, createConnection, isIP, LookupFunction, Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';
import type { OutboundAllowEntry } from '../config/outbound-allow';
import { ADDRESS_NOT_ALLOWED, ADDRESS_NOT_ALLOWED_CODE } from '../connector-sdk';
import {
  AddressClass,
  canonicalAddress,
  classifyAddress,
  METADATA_HOSTS,
  normalizeHost,
} from './address-class';
import { ConnectGuard, GuardedHttpAgent, GuardedHttpsAgent } from './outbound-agents';

/** Why the policy refused a destination (for logs and tests; tenants only see "address not allowed"). */
export type Refusal = AddressClass | 'metadata' | 'hub_listener';

/**
 * A connection the outbound policy refused before anything went on the wire. Its message
 * names the field when known, never the address: tenants read it.
 */
export class AddressNotAllowedError extends Error {
  readonly code = ADDRESS_NOT_ALLOWED_CODE;
  readonly reason = ADDRESS_NOT_ALLOWED;

  constructor(
    /** What the address was classified as; for the operator's logs, not for tenants. */
    readonly refusal: Refusal,
    field?: string,
  ) {
    super(`${field ?? 'the address'}: address not allowed`);
    this.name = 'AddressNotAllowedError';
  }
}

/** Resolves host names; injectable so tests can stand in a resolver that changes its answer. */
@Injectable()
export class HostResolver {
  lookup(hostname: string): Promise<LookupAddress[]> {
    return dns.lookup(hostname, { all: true, verbatim: true });
  }
}

/** A host and port a config field makes the hub connect to (AMI's host and port, say). */
export interface OutboundDestination {
  field: string;
  host: string;
  port: number;
}

/** How long a config check waits for DNS before it lets the connect-time check decide. */
const CONFIG_LOOKUP_MS = 2000;
/** Config values are searched for URLs this deep (nested objects and arrays). */
const CONFIG_DEPTH = 4;

interface Listener {
  address: string;
  port: number;
}

function resolutionFailed(): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error('host name not resolved');
  err.code = 'ENOTFOUND';
  return err;
}

/**
 * The one outbound policy for every address a tenant supplies (CRM and PBX base URLs,
 * originate URLs, recording links, AMI hosts). Refused unless HUB_OUTBOUND_ALLOW allows
 * them: loopback, private, CGNAT, link-local, unspecified, multicast, broadcast and
 * reserved addresses (their IPv6 forms included), cloud metadata names, and the hub's own
 * listener. The check runs where the socket is made (agents and `net.connect` get a
 * `lookup` that checks what a name resolves to), so DNS rebinding and redirects meet it too.
 */
@Injectable()
export class OutboundPolicy implements ConnectGuard {
  private readonly allowNets = new BlockList();
  private readonly allowAddressPorts: { list: BlockList; port: number }[] = [];
  private readonly allowHosts: { host: string; port?: number }[] = [];
  private readonly publicUrl: { host: string; port: number } | null;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly resolver: HostResolver,
    @Optional() private readonly adapterHost?: HttpAdapterHost,
  ) {
    for (const entry of config.outboundAllow ?? []) this.allow(entry);
    this.publicUrl = hostPortOf(config.publicUrl);
  }

  private allow(entry: OutboundAllowEntry): void {
    if (entry.kind === 'host') {
      this.allowHosts.push({ host: entry.host, port: entry.port });
    } else if (entry.port !== undefined) {
      const list = new BlockList();
      list.addAddress(entry.address, entry.family);
      this.allowAddressPorts.push({ list, port: entry.port });
    } else {
      this.allowNets.addSubnet(entry.address, entry.prefix, entry.family);
    }
  }

  /**
   * Why the hub may not connect to `address:port` (reached through host name `name`, when
   * there is one), or null when it may. An entry naming exactly this host:port allows even
   * the hub's own listener; a CIDR or a bare host name never does.
   */
  refusal(target: { address: string; port: number; name?: string }): Refusal | null {
    const canonical = canonicalAddress(target.address);
    if (!canonical) return 'reserved';
    const { address } = canonical;
    const name = target.name ? normalizeHost(target.name) : undefined;
    const { port } = target;
    const exact = (e: { list: BlockList; port: number }) =>
      e.port === port && e.list.check(address, canonical.family);
    if (this.allowAddressPorts.some(exact)) return null;
    if (name && this.allowHosts.some((e) => e.host === name && e.port === port)) return null;
    if (
      this.isListener(address, port) ||
      this.isPublicUrl(address, port) ||
      (name && this.isPublicUrl(name, port))
    ) {
      return 'hub_listener';
    }
    if (name && this.allowHosts.some((e) => e.host === name && e.port === undefined)) return null;
    const cls = classifyAddress(address);
    if (cls === null) return null;
    return this.allowNets.check(address, canonical.family) ? null : cls;
  }

  /** The refusal of a host name before it is resolved (metadata names, the hub's public URL). */
  nameRefusal(name: string, port: number): Refusal | null {
    const host = normalizeHost(name);
    if (this.allowHosts.some((e) => e.host === host && e.port === port)) return null;
    if (this.isPublicUrl(host, port)) return 'hub_listener';
    if (this.allowHosts.some((e) => e.host === host && e.port === undefined)) return null;
    return METADATA_HOSTS.has(host) ? 'metadata' : null;
  }

  /**
   * The addresses the hub may connect to for host:port, resolved now; throws
   * AddressNotAllowedError when the name or any address it resolves to is refused (a name
   * that answers with one public and one internal address is refused as a whole).
   */
  async resolve(host: string, port: number, field?: string): Promise<LookupAddress[]> {
    const name = normalizeHost(host);
    const version = isIP(name);
    if (version) {
      const refused = this.refusal({ address: name, port });
      if (refused) throw new AddressNotAllowedError(refused, field);
      return [{ address: name, family: version }];
    }
    const byName = this.nameRefusal(name, port);
    if (byName) throw new AddressNotAllowedError(byName, field);
    const addresses = await this.resolver.lookup(name);
    if (!addresses.length) throw resolutionFailed();
    for (const a of addresses) {
      const refused = this.refusal({ address: a.address, port, name });
      if (refused) throw new AddressNotAllowedError(refused, field);
    }
    return addresses;
  }

  refuseLiteral(host: string, port: number, field?: string): Error | null {
    const name = normalizeHost(host);
    if (!isIP(name)) return null;
    const refused = this.refusal({ address: name, port });
    return refused ? new AddressNotAllowedError(refused, field) : null;
  }

  lookupFor(port: number, field?: string): LookupFunction {
    return (hostname, options, callback) => {
      this.resolve(hostname, port, field).then(
        (all) => {
          const family =
            options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
          const picked = family ? all.filter((a) => a.family === family) : all;
          if (!picked.length) return callback(resolutionFailed(), '', 0);
          if (options.all) return callback(null, picked);
          return callback(null, picked[0].address, picked[0].family);
        },
        (err: NodeJS.ErrnoException) => callback(err, '', 0),
      );
    };
  }

  /** Keep-alive or not, agents whose every connection is checked; destroy them on shutdown. */
  agents(options: { keepAlive?: boolean; maxSockets?: number; maxFreeSockets?: number } = {}): {
    http: GuardedHttpAgent;
    https: GuardedHttpsAgent;
  } {
    return {
      http: new GuardedHttpAgent(this, options),
      https: new GuardedHttpsAgent(this, options),
    };
  }

  /**
   * `net.connect` under the policy; a refused address gives a socket that fails with the
   * refusal (naming `field`) before anything is sent.
   */
  connect(options: { host: string; port: number }, field?: string): Socket {
    const refused = this.refuseLiteral(options.host, options.port, field);
    if (refused) {
      const socket = new Socket();
      process.nextTick(() => socket.destroy(refused));
      return socket;
    }
    return createConnection({
      host: options.host,
      port: options.port,
      lookup: this.lookupFor(options.port, field),
    });
  }

  /**
   * Config check at create/PATCH time: every string of `config` that is an http(s) URL, and
   * the given host/port destinations, must be allowed; a 422 names each refused field
   * ("config.url: address not allowed"). A name that does not resolve now is let through:
   * the PBX or CRM may not exist yet, and the connect-time check still holds.
   */
  async assertConfig(
    prefix: string,
    config: Record<string, unknown>,
    destinations: OutboundDestination[] = [],
  ): Promise<void> {
    const targets = [...urlDestinations(prefix, config, CONFIG_DEPTH), ...destinations];
    const refused: string[] = [];
    for (const t of targets) {
      if (!(await this.allowedAtConfigTime(t.host, t.port))) refused.push(t.field);
    }
    if (refused.length) {
      throw new UnprocessableEntityException(
        refused.map((field) => `${field}: address not allowed`).join('; '),
      );
    }
  }

  private async allowedAtConfigTime(host: string, port: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), CONFIG_LOOKUP_MS);
    });
    try {
      await Promise.race([this.resolve(host, port), gaveUp]);
      return true;
    } catch (err) {
      return !(err instanceof AddressNotAllowedError);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The hub's own listener: the real address after listen (tests listen on port 0), else the config's. */
  private listener(): Listener {
    const server = this.adapterHost?.httpAdapter?.getHttpServer?.() as
      { address?: () => unknown } | undefined;
    const addr = server?.address?.() as { address?: string; port?: number } | null | undefined;
    if (addr && typeof addr === 'object' && addr.address && addr.port) {
      return { address: addr.address, port: addr.port };
    }
    return { address: this.config.host, port: this.config.port };
  }

  private isListener(address: string, port: number): boolean {
    const listener = this.listener();
    if (port !== listener.port) return false;
    const bound = canonicalAddress(listener.address);
    if (!bound) return false;
    if (bound.address === address) return true;
    // Listening on every interface: every local address reaches the hub.
    if (classifyAddress(bound.address) === 'unspecified') {
      const cls = classifyAddress(address);
      return cls === 'loopback' || cls === 'unspecified' || localAddresses().has(address);
    }
    // 0.0.0.0 and :: connect to the local host.
    return classifyAddress(address) === 'unspecified';
  }

  private isPublicUrl(host: string, port: number): boolean {
    return this.publicUrl !== null && this.publicUrl.host === host && this.publicUrl.port === port;
  }
}

function localAddresses(): Set<string> {
  const out = new Set<string>();
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) {
      const c = canonicalAddress(i.address);
      if (c) out.add(c.address);
    }
  }
  return out;
}

/** Host and port of an http(s) URL (default ports filled in), or null when it is not one. */
export function hostPortOf(url: string): { host: string; port: number } | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return null;
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return null;
  const port = parsed.port ? Number(parsed.port) : parsed.protocol === 'https:' ? 443 : 80;
  return { host: normalizeHost(parsed.hostname), port };
}

/** Every string of a config that is an http(s) URL, with the path of its field. */
export function urlDestinations(
  prefix: string,
  value: unknown,
  depth: number,
): OutboundDestination[] {
  if (typeof value === 'string') {
    if (!/^\s*https?:\/\//i.test(value)) return [];
    const target = hostPortOf(value.trim());
    return target ? [{ field: prefix, ...target }] : [];
  }
  if (depth <= 0 || !value || typeof value !== 'object') return [];
  return Object.entries(value as Record<string, unknown>).flatMap(([key, v]) =>
    urlDestinations(Array.isArray(value) ? `${prefix}[${key}]` : `${prefix}.${key}`, v, depth - 1),
  );
}
