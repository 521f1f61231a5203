import { connect } from 'node:net';

/**
 * One HTTP/1.1 request written byte for byte on its own connection. fetch and node:http refuse
 * to send hostile requests (control characters in headers, bad methods, raw paths), which is
 * exactly what the fuzz suite needs to send.
 */
export interface RawRequest {
  method: string;
  /** Sent as is on the request line: encode it yourself. */
  path: string;
  /** Sent in order; duplicates allowed. Values are written as latin1 bytes. */
  headers: [string, string][];
  body?: Buffer;
}

export interface RawResponse {
  /** The status of the answer, or null when none came. */
  status: number | null;
  /** The answer's first bytes (status line, headers, start of the body). */
  head: string;
  /** A socket error or timeout, if any. */
  error?: string;
}

export function rawHttp(port: number, req: RawRequest, timeoutMs = 15000): Promise<RawResponse> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let size = 0;
    let error: string | undefined;
    let settled = false;
    const finish = () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      const head = Buffer.concat(chunks).toString('latin1').slice(0, 2000);
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      resolve({ status: m ? Number(m[1]) : null, head, error });
    };
    const timer = setTimeout(() => {
      error = `no complete answer within ${timeoutMs} ms`;
      finish();
    }, timeoutMs);
    socket.on('data', (d: Buffer) => {
      // Only the head matters; keep memory bounded for big answers.
      if (size < 4096) chunks.push(d);
      size += d.length;
    });
    socket.on('error', (err) => {
      error = err.message;
      finish();
    });
    socket.on('close', finish);
    socket.on('end', finish);
    const body = req.body ?? Buffer.alloc(0);
    const lines = [`${req.method} ${req.path} HTTP/1.1`, 'host: 127.0.0.1', 'connection: close'];
    for (const [name, value] of req.headers) lines.push(`${name}: ${value}`);
    if (body.length || !['GET', 'HEAD'].includes(req.method))
      lines.push(`content-length: ${body.length}`);
    socket.write(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body]));
  });
}
