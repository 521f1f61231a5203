import type { HttpAdapterHost } from '@nestjs/core';
import axios from 'axios';
import type { LookupAddress } from 'node:dns';
import { createServer as createHttpServer, Server as HttpServer } from 'node:http';
import { createServer, Server, Socket } from 'node:net';
import { loadConfig } from '../config/config';
import {
  AddressNotAllowedError,
  HostResolver,
  OutboundPolicy,
  urlDestinations,
} from './outbound-policy';

const base = {
  HUB_ADMIN_TOKEN: 'a'.repeat(30),
  HUB_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
  HUB_PUBLIC_URL: 'https://hub.example.com',
};

/** A resolver whose answers the test sets: no DNS traffic at all. */
class FakeResolver extends HostResolver {
  readonly answers = new Map<string, string[][]>();
  readonly asked: string[] = [];

  override async lookup(hostname: string): Promise<LookupAddress[]> {
    this.asked.push(hostname);
    const queue = this.answers.get(hostname) ?? [];
    const next = queue.length > 1 ? queue.shift()! : queue[0];
    if (!next) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return next.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  }
}

function listenerAt(address: { address: string; port: number } | null) {
  const server = { current: address, address: () => server.current };
  const host = { httpAdapter: { getHttpServer: () => server } } as unknown as HttpAdapterHost;
  return { server, host };
}

function policy(env: Record<string, string> = {}, listener = listenerAt(null).host) {
  const resolver = new FakeResolver();
  const p = new OutboundPolicy(loadConfig({ ...base, ...env }), resolver, listener);
  return { p, resolver };
}

describe('OutboundPolicy: what it refuses (no network)', () => {
  it.each([
    ['127.0.0.1', 'loopback'],
    ['::1', 'loopback'],
    ['10.0.0.5', 'private'],
    ['100.64.1.1', 'cgnat'],
    ['169.254.169.254', 'link_local'],
    ['::ffff:169.254.169.254', 'link_local'],
    ['0.0.0.0', 'unspecified'],
    ['224.0.0.1', 'multicast'],
  ])('refuses %s (%s) by default', (address, cls) => {
    expect(policy().p.refusal({ address, port: 80 })).toBe(cls);
  });

  it('lets public addresses through', () => {
    expect(policy().p.refusal({ address: '93.184.216.34', port: 443 })).toBeNull();
    expect(policy().p.refusal({ address: '2606:4700::1111', port: 443 })).toBeNull();
  });

  it('allows exactly the listed address: 127.0.0.2, ::1 and their mapped forms stay refused', () => {
    const { p } = policy({ HUB_OUTBOUND_ALLOW: '127.0.0.1' });
    expect(p.refusal({ address: '127.0.0.1', port: 8080 })).toBeNull();
    expect(p.refusal({ address: '::ffff:127.0.0.1', port: 8080 })).toBeNull();
    expect(p.refusal({ address: '127.0.0.2', port: 8080 })).toBe('loopback');
    expect(p.refusal({ address: '::ffff:7f00:2', port: 8080 })).toBe('loopback');
    expect(p.refusal({ address: '::1', port: 8080 })).toBe('loopback');
  });

  it('allows a CIDR, an address only on its port, and a host name whatever it resolves to', () => {
    const { p } = policy({ HUB_OUTBOUND_ALLOW: '10.0.0.0/8,192.168.1.5:8080,pbx.lan,crm.lan:443' });
    expect(p.refusal({ address: '10.20.30.40', port: 1 })).toBeNull();
    expect(p.refusal({ address: '::ffff:10.20.30.40', port: 1 })).toBeNull();
    expect(p.refusal({ address: '192.168.1.5', port: 8080 })).toBeNull();
    expect(p.refusal({ address: '192.168.1.5', port: 8081 })).toBe('private');
    expect(p.refusal({ address: '192.168.1.6', port: 8080 })).toBe('private');
    expect(p.refusal({ address: '172.16.0.9', port: 5038, name: 'PBX.lan.' })).toBeNull();
    expect(p.refusal({ address: '172.16.0.9', port: 443, name: 'crm.lan' })).toBeNull();
    expect(p.refusal({ address: '172.16.0.9', port: 80, name: 'crm.lan' })).toBe('private');
    expect(p.refusal({ address: '172.16.0.9', port: 80, name: 'other.lan' })).toBe('private');
  });

  it('refuses metadata names before resolving them, unless listed by name', () => {
    expect(policy().p.nameRefusal('metadata.google.internal', 80)).toBe('metadata');
    expect(policy().p.nameRefusal('Metadata.', 80)).toBe('metadata');
    expect(policy().p.nameRefusal('crm.example.com', 443)).toBeNull();
    const listed = policy({ HUB_OUTBOUND_ALLOW: 'metadata' }).p;
    expect(listed.nameRefusal('metadata', 80)).toBeNull();
  });

  it("refuses the hub's own listener at its real port, learnt after listen", () => {
    const listener = listenerAt(null);
    const { p } = policy({ HUB_OUTBOUND_ALLOW: '127.0.0.1', HUB_PORT: '3000' }, listener.host);
    // Before listen: the configured port.
    expect(p.refusal({ address: '127.0.0.1', port: 3000 })).toBe('hub_listener');
    listener.server.current = { address: '127.0.0.1', port: 45123 };
    expect(p.refusal({ address: '127.0.0.1', port: 45123 })).toBe('hub_listener');
    expect(p.refusal({ address: '::ffff:127.0.0.1', port: 45123 })).toBe('hub_listener');
    expect(p.refusal({ address: '127.0.0.1', port: 3000 })).toBeNull();
    expect(p.refusal({ address: '127.0.0.1', port: 45124 })).toBeNull();
  });

  it('allows the listener only through an entry naming exactly its host:port', () => {
    const listener = listenerAt({ address: '127.0.0.1', port: 45123 });
    expect(
      policy({ HUB_OUTBOUND_ALLOW: '127.0.0.0/8' }, listener.host).p.refusal({
        address: '127.0.0.1',
        port: 45123,
      }),
    ).toBe('hub_listener');
    expect(
      policy({ HUB_OUTBOUND_ALLOW: '127.0.0.1:45123' }, listener.host).p.refusal({
        address: '127.0.0.1',
        port: 45123,
      }),
    ).toBeNull();
  });

  it('counts every local address as the listener when it listens on all interfaces', () => {
    const listener = listenerAt({ address: '0.0.0.0', port: 45123 });
    const { p } = policy({ HUB_OUTBOUND_ALLOW: '127.0.0.0/8,0.0.0.0/8' }, listener.host);
    expect(p.refusal({ address: '127.0.0.9', port: 45123 })).toBe('hub_listener');
    expect(p.refusal({ address: '0.0.0.0', port: 45123 })).toBe('hub_listener');
    expect(p.refusal({ address: '127.0.0.9', port: 45124 })).toBeNull();
  });

  it("refuses the hub's public URL by name", () => {
    const { p } = policy({ HUB_OUTBOUND_ALLOW: 'hub.example.com' });
    expect(p.nameRefusal('hub.example.com', 443)).toBe('hub_listener');
    expect(p.nameRefusal('hub.example.com', 8443)).toBeNull();
    const literal = policy({
      HUB_OUTBOUND_ALLOW: '127.0.0.1',
      HUB_PUBLIC_URL: 'http://127.0.0.1:8080',
    }).p;
    expect(literal.refusal({ address: '127.0.0.1', port: 8080 })).toBe('hub_listener');
    expect(literal.refusal({ address: '127.0.0.1', port: 8081 })).toBeNull();
  });

  it('compares address:port entries as addresses, not as text', () => {
    const { p } = policy({ HUB_OUTBOUND_ALLOW: '[fd00:0:0:0:0:0:0:5]:8080' });
    expect(p.refusal({ address: 'fd00::5', port: 8080 })).toBeNull();
    expect(p.refusal({ address: 'fd00::5', port: 8081 })).toBe('private');
  });
});

describe('OutboundPolicy.resolve: every address a name resolves to is checked', () => {
  it('passes a name that resolves to allowed addresses', async () => {
    const { p, resolver } = policy({ HUB_OUTBOUND_ALLOW: '127.0.0.1' });
    resolver.answers.set('crm.test', [['127.0.0.1']]);
    await expect(p.resolve('crm.test', 80)).resolves.toEqual([{ address: '127.0.0.1', family: 4 }]);
  });

  it.each([[['127.0.0.1', '127.0.0.2']], [['::ffff:127.0.0.2']], [['::1']], [['169.254.169.254']]])(
    'refuses a name that resolves to %j, naming the field and not the address',
    async (answer) => {
      const { p, resolver } = policy({ HUB_OUTBOUND_ALLOW: '127.0.0.1' });
      resolver.answers.set('crm.test', [answer]);
      const err = await p.resolve('crm.test', 80, 'config.url').catch((e: Error) => e);
      expect(err).toBeInstanceOf(AddressNotAllowedError);
      expect((err as Error).message).toBe('config.url: address not allowed');
    },
  );

  it('refuses a metadata name without asking DNS', async () => {
    const { p, resolver } = policy();
    await expect(p.resolve('metadata.google.internal', 80)).rejects.toThrow('address not allowed');
    expect(resolver.asked).toEqual([]);
  });

  it('fails a name that does not resolve as such, not as a refusal', async () => {
    const { p } = policy();
    const err = (await p.resolve('nowhere.test', 80).catch((e: unknown) => e)) as {
      code?: string;
    };
    expect(err.code).toBe('ENOTFOUND');
  });
});

describe('OutboundPolicy.assertConfig (create/PATCH time)', () => {
  it('names every refused field, URLs found anywhere in the config', async () => {
    const { p } = policy({ HUB_OUTBOUND_ALLOW: '127.0.0.1' });
    const config = {
      url: 'http://127.0.0.2:8080/api',
      nested: { hook: 'https://[::1]/x', ok: 'http://127.0.0.1:9/ok' },
      list: ['http://169.254.169.254/latest'],
      notAUrl: '10.0.0.5',
    };
    await expect(
      p.assertConfig('config', config, [{ field: 'config.host', host: '10.0.0.5', port: 5038 }]),
    ).rejects.toThrow(
      'config.url: address not allowed; config.nested.hook: address not allowed; config.list[0]: address not allowed; config.host: address not allowed',
    );
  });

  it('lets a name through that does not resolve now: the connect-time check still holds', async () => {
    const { p } = policy();
    await expect(p.assertConfig('config', { url: 'https://crm.invalid' })).resolves.toBeUndefined();
  });

  it('finds URL fields with their paths', () => {
    expect(
      urlDestinations('config', { a: 'HTTPS://X.test', b: 'ftp://y', c: { d: 'http://z:81' } }, 4),
    ).toEqual([
      { field: 'config.a', host: 'x.test', port: 443 },
      { field: 'config.c.d', host: 'z', port: 81 },
    ]);
  });
});

/**
 * Real sockets, on loopback only: 127.0.0.1 is allowed, while 127.0.0.2 and ::1 stand in for
 * internal targets. A counting server sits on each refused address to prove nothing reached it.
 */
describe('OutboundPolicy at connect time (agents and net.connect)', () => {
  let allowed: HttpServer;
  let port: number;
  const targets: { server: Server; connections: number }[] = [];
  const allowedHits: string[] = [];

  const counting = async (host: string, at: number) => {
    const target = { server: createServer(), connections: 0 };
    target.server.on('connection', (s: Socket) => {
      target.connections += 1;
      s.end('HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nSECRET');
    });
    await new Promise<void>((r) => target.server.listen(at, host, r));
    targets.push(target);
    return target;
  };

  beforeAll(async () => {
    allowed = createHttpServer((req, res) => {
      allowedHits.push(req.url ?? '');
      res.end('public');
    });
    await new Promise<void>((r) => allowed.listen(0, '127.0.0.1', r));
    port = (allowed.address() as { port: number }).port;
  });

  afterAll(async () => {
    await new Promise((r) => allowed.close(r));
    await Promise.all(targets.map((t) => new Promise((r) => t.server.close(r))));
  });

  const get = (p: OutboundPolicy, url: string) => {
    const agents = p.agents({ keepAlive: false });
    return axios
      .get<string>(url, {
        httpAgent: agents.http,
        httpsAgent: agents.https,
        proxy: false,
        timeout: 3000,
      })
      .finally(() => agents.http.destroy());
  };

  it('refuses a literal 127.0.0.2 and [::1] before connecting', async () => {
    const v4 = await counting('127.0.0.2', port);
    const v6 = await counting('::1', port);
    const { p } = policy({ HUB_OUTBOUND_ALLOW: '127.0.0.1' });
    for (const url of [`http://127.0.0.2:${port}/`, `http://[::1]:${port}/`]) {
      const err = (await get(p, url).catch((e: unknown) => e)) as { code?: string };
      expect(err.code).toBe('ERR_ADDRESS_NOT_ALLOWED');
    }
    expect((await get(p, `http://127.0.0.1:${port}/ok`)).data).toBe('public');
    expect([v4.connections, v6.connections]).toEqual([0, 0]);
  });

  it('defeats DNS rebinding: the address is checked on every connect, not once per name', async () => {
    const internal = targets.find(
      (t) => (t.server.address() as { address: string }).address === '127.0.0.2',
    )!;
    const { p, resolver } = policy({ HUB_OUTBOUND_ALLOW: '127.0.0.1' });
    // First answer allowed (the config check, the first request), then the name rebinds.
    resolver.answers.set('rebind.test', [['127.0.0.1'], ['127.0.0.2']]);
    expect((await get(p, `http://rebind.test:${port}/first`)).data).toBe('public');
    const err = (await get(p, `http://rebind.test:${port}/second`).catch((e: unknown) => e)) as {
      code?: string;
    };
    expect(err.code).toBe('ERR_ADDRESS_NOT_ALLOWED');
    expect(allowedHits).toContain('/first');
    expect(allowedHits).not.toContain('/second');
    expect(internal.connections).toBe(0);
  });

  it('guards net.connect the same way (AMI), by address and by name', async () => {
    const amiPort = port;
    const internal = targets.find(
      (t) => (t.server.address() as { address: string }).address === '127.0.0.2',
    )!;
    const { p, resolver } = policy({ HUB_OUTBOUND_ALLOW: '127.0.0.1' });
    resolver.answers.set('pbx.test', [['127.0.0.2']]);
    const outcome = (host: string) =>
      new Promise<string>((resolve) => {
        const socket = p.connect({ host, port: amiPort }, 'config.host');
        socket.once('connect', () => {
          socket.destroy();
          resolve('connected');
        });
        socket.once('error', (err: Error) => resolve(err.message));
      });
    expect(await outcome('127.0.0.2')).toBe('config.host: address not allowed');
    expect(await outcome('pbx.test')).toBe('config.host: address not allowed');
    expect(await outcome('127.0.0.1')).toBe('connected');
    expect(internal.connections).toBe(0);
  });
});
