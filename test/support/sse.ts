export interface SseEvent {
  event: string;
  data: unknown;
}

/**
 * A server-sent events client over fetch, for tests: collects the events of one stream
 * and waits for the next one that matches.
 */
export class SseStream {
  readonly events: SseEvent[] = [];
  private readonly abort = new AbortController();
  private waiters: { match: (e: SseEvent) => boolean; resolve: (e: SseEvent) => void }[] = [];
  status = 0;
  headers = new Headers();

  static async open(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
    const stream = new SseStream();
    const res = await fetch(url, { signal: stream.abort.signal, headers });
    stream.status = res.status;
    stream.headers = res.headers;
    if (res.ok && res.body) void stream.read(res.body);
    else await res.arrayBuffer().catch(() => undefined);
    return stream;
  }

  /** The first event (already received or still to come) that matches, within `timeoutMs`. */
  next(match: (e: SseEvent) => boolean, timeoutMs = 10000): Promise<SseEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no such event in time')), timeoutMs);
      this.waiters.push({
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e);
        },
      });
    });
  }

  close(): void {
    this.abort.abort();
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          this.dispatch(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch {
      // aborted
    }
  }

  private dispatch(block: string): void {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length === 0) return;
    const parsed: SseEvent = { event, data: JSON.parse(data.join('\n')) as unknown };
    this.events.push(parsed);
    const waiting = this.waiters.filter((w) => w.match(parsed));
    this.waiters = this.waiters.filter((w) => !w.match(parsed));
    for (const w of waiting) w.resolve(parsed);
  }
}
