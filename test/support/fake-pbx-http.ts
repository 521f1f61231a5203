import { createServer, IncomingMessage, Server } from 'node:http';

export interface ReceivedOriginate {
  headers: IncomingMessage['headers'];
  raw: string;
}

/** A PBX's HTTP side: serves recording files and takes generic originate requests. */
export class FakePbxHttp {
  private server?: Server;
  readonly originates: ReceivedOriginate[] = [];
  readonly recordingFetches: string[] = [];
  originateStatus = 200;
  url = '';

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        if (req.method === 'GET' && req.url?.startsWith('/rec/')) {
          this.recordingFetches.push(req.url);
          res.writeHead(200, { 'content-type': 'audio/mpeg' });
          res.end(Buffer.from(`ID3-fake-mp3-of-${req.url}`));
          return;
        }
        if (req.method === 'POST' && req.url === '/originate') {
          this.originates.push({
            headers: req.headers,
            raw: Buffer.concat(chunks).toString('utf8'),
          });
          res.writeHead(this.originateStatus, { 'content-type': 'application/json' });
          res.end('{"ok":true}');
          return;
        }
        res.writeHead(404).end();
      });
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }
}
