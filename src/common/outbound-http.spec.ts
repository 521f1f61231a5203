import { createServer as createHttpServer, Server as HttpServer } from 'node:http';
import { createServer, Server } from 'node:net';
import { Readable } from 'node:stream';
import { loadConfig } from '../config/config';
import { OutboundFetchError, OutboundHttp, StreamLimits } from './outbound-http';
import { AddressNotAllowedError, HostResolver, OutboundPolicy } from './outbound-policy';

const LIMITS: StreamLimits = {
  idleTimeoutMs: 2000,
  totalTimeoutMs: 2000,
  maxBytes: 1000,
  maxRedirects: 2,
  field: 'recordingUrl',
};

async function drain(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Loopback only: 127.0.0.1 is allowed, a counting server on 127.0.0.2 stands in for an internal host. */
describe('OutboundHttp (recording fetches)', () => {
  let pbx: HttpServer;
  let internal: Server;
  let internalConnections = 0;
  let base = '';
  let port = 0;
  let http: OutboundHttp;

  beforeAll(async () => {
    pbx = createHttpServer((req, res) => {
      const url = req.url ?? '';
      if (url === '/rec.mp3') return void res.end('ID3-audio');
      if (url === '/hop') return void res.writeHead(302, { location: '/rec.mp3' }).end();
      if (url === '/loop') return void res.writeHead(302, { location: '/loop' }).end();
      if (url === '/to-internal') {
        return void res.writeHead(302, { location: `http://127.0.0.2:${port}/secret` }).end();
      }
      if (url === '/big') {
        res.writeHead(200, { 'content-type': 'audio/mpeg' });
        res.write(Buffer.alloc(800));
        return void res.end(Buffer.alloc(800));
      }
      if (url === '/declared-big') {
        res.writeHead(200, { 'content-length': '5000' });
        return void res.end(Buffer.alloc(5000));
      }
      if (url === '/slow') {
        res.writeHead(200);
        res.write('a');
        const timer = setInterval(() => res.write('a'), 300);
        res.on('close', () => clearInterval(timer));
        return;
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((r) => pbx.listen(0, '127.0.0.1', r));
    port = (pbx.address() as { port: number }).port;
    base = `http://127.0.0.1:${port}`;
    internal = createServer((s) => {
      internalConnections += 1;
      s.end('HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nSECRET');
    });
    await new Promise<void>((r) => internal.listen(port, '127.0.0.2', r));
    const config = loadConfig({
      HUB_ADMIN_TOKEN: 'a'.repeat(30),
      HUB_ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
      HUB_OUTBOUND_ALLOW: '127.0.0.1',
    });
    http = new OutboundHttp(new OutboundPolicy(config, new HostResolver()));
  });

  afterAll(async () => {
    http.onModuleDestroy();
    await new Promise((r) => pbx.close(r));
    await new Promise((r) => internal.close(r));
  });

  it('follows a redirect between allowed addresses', async () => {
    const res = await http.getStream(`${base}/hop`, LIMITS);
    expect(res.status).toBe(200);
    expect(await drain(res.body)).toBe('ID3-audio');
  });

  it('checks every redirect again: one to 127.0.0.2 is refused and nothing reaches it', async () => {
    const err = await http.getStream(`${base}/to-internal`, LIMITS).catch((e: Error) => e);
    expect(err).toBeInstanceOf(AddressNotAllowedError);
    expect((err as Error).message).toBe('recordingUrl: address not allowed');
    expect(internalConnections).toBe(0);
  });

  it('refuses a link straight to 127.0.0.2 or [::1]', async () => {
    for (const url of [`http://127.0.0.2:${port}/secret`, `http://[::1]:${port}/secret`]) {
      await expect(http.getStream(url, LIMITS)).rejects.toThrow(
        'recordingUrl: address not allowed',
      );
    }
    expect(internalConnections).toBe(0);
  });

  it('gives up after maxRedirects', async () => {
    await expect(http.getStream(`${base}/loop`, LIMITS)).rejects.toThrow(
      new OutboundFetchError('recordingUrl: too many redirects'),
    );
  });

  it('refuses a reply that declares more than maxBytes, and cuts off one that sends more', async () => {
    await expect(http.getStream(`${base}/declared-big`, LIMITS)).rejects.toThrow('reply too large');
    const res = await http.getStream(`${base}/big`, LIMITS);
    await expect(drain(res.body)).rejects.toThrow('reply too large');
  });

  it('bounds the whole exchange in time, the body included', async () => {
    const started = Date.now();
    const res = await http.getStream(`${base}/slow`, { ...LIMITS, totalTimeoutMs: 1000 });
    await expect(drain(res.body)).rejects.toThrow();
    expect(Date.now() - started).toBeLessThan(2500);
  });
});
