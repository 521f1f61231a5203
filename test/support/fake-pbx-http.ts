import { createServer, IncomingMessage, Server } from 'node:http';

export interface ReceivedOriginate {
  headers: IncomingMessage['headers'];
  raw: string;
}

/** A WAV file as PBXs record them: 8 kHz, 16-bit mono PCM, here a 440 Hz tone. */
export function toneWav(seconds: number): Buffer {
  const rate = 8000;
  const samples = rate * seconds;
  const out = Buffer.alloc(44 + samples * 2);
  out.write('RIFF', 0, 'ascii');
  out.writeUInt32LE(36 + samples * 2, 4);
  out.write('WAVEfmt ', 8, 'ascii');
  out.writeUInt32LE(16, 16);
  out.writeUInt16LE(1, 20); // PCM
  out.writeUInt16LE(1, 22); // mono
  out.writeUInt32LE(rate, 24);
  out.writeUInt32LE(rate * 2, 28);
  out.writeUInt16LE(2, 32);
  out.writeUInt16LE(16, 34);
  out.write('data', 36, 'ascii');
  out.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++) {
    out.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), 44 + i * 2);
  }
  return out;
}

/** A PBX's HTTP side: serves recording files (.wav as WAV, others as MP3) and takes generic originate requests. */
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
        if (req.method === 'GET' && req.url?.startsWith('/rec/') && req.url.endsWith('.wav')) {
          this.recordingFetches.push(req.url);
          const wav = toneWav(2);
          res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': wav.length });
          res.end(wav);
          return;
        }
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
