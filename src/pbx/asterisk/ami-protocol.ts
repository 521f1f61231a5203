import { StringDecoder } from 'node:string_decoder';

/**
 * One AMI message (action, response or event). Headers keep their wire order and
 * duplicates (`Variable`, `ChanVariable`); lookups are case-insensitive because
 * Asterisk versions and clients disagree on key case.
 */
export class AmiMessage {
  /** Every header in wire order as [name, value, name, value, ...]. */
  readonly headers: string[] = [];
  private readonly first: Record<string, string> = Object.create(null) as Record<string, string>;

  add(name: string, value: string): void {
    this.headers.push(name, value);
    const key = name.toLowerCase();
    if (!(key in this.first)) this.first[key] = value;
  }

  /** The first value of a header, or undefined. */
  get(name: string): string | undefined {
    return this.first[name.toLowerCase()];
  }

  /** Every value of a (possibly repeated) header, in order. */
  getAll(name: string): string[] {
    const key = name.toLowerCase();
    const out: string[] = [];
    for (let i = 0; i < this.headers.length; i += 2) {
      if (this.headers[i].toLowerCase() === key) out.push(this.headers[i + 1]);
    }
    return out;
  }

  get size(): number {
    return this.headers.length / 2;
  }

  /** `Event` name for events, undefined otherwise. */
  get event(): string | undefined {
    return this.first.event;
  }

  get response(): string | undefined {
    return this.first.response;
  }

  get actionId(): string | undefined {
    return this.first.actionid;
  }

  /** First-value view of the headers (handy for logs and tests). */
  toObject(): Record<string, string> {
    const out: Record<string, string> = {};
    for (let i = 0; i < this.headers.length; i += 2) {
      if (!(this.headers[i] in out)) out[this.headers[i]] = this.headers[i + 1];
    }
    return out;
  }

  static fromObject(fields: Record<string, string | number | string[]>): AmiMessage {
    const msg = new AmiMessage();
    for (const [name, value] of Object.entries(fields)) {
      if (Array.isArray(value)) for (const v of value) msg.add(name, v);
      else msg.add(name, String(value));
    }
    return msg;
  }
}

const BANNER = /^Asterisk Call Manager\/\S+/;
/** Longer lines than this are no AMI an Asterisk sends: the stream is broken or hostile. */
export const MAX_LINE_CHARS = 64 * 1024;
/** More headers in one message than this (real events have a few dozen). */
export const MAX_HEADERS = 1024;

/** The stream went over a bound; the parser keeps nothing of it and the caller should hang up. */
export class AmiOverflowError extends Error {}

/**
 * Incremental AMI framer: feed it socket chunks in any split, get whole messages.
 * Lines end with CRLF (a bare LF is accepted too); a blank line ends a message;
 * the `Asterisk Call Manager/x.y` greeting is reported separately, never as a message.
 */
export class AmiParser {
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';
  private current: AmiMessage | null = null;

  constructor(
    private readonly onMessage: (msg: AmiMessage) => void,
    private readonly onBanner: (banner: string) => void = () => undefined,
  ) {}

  /**
   * Feeds a chunk. Memory stays bounded whatever the peer sends: a line over MAX_LINE_CHARS
   * or a message over MAX_HEADERS throws AmiOverflowError after dropping what was buffered.
   */
  push(chunk: Buffer | string): void {
    const text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    const data = this.rest.length ? this.rest + text : text;
    let start = 0;
    let nl = data.indexOf('\n', start);
    while (nl !== -1) {
      const end = nl > start && data.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      this.line(data, start, end);
      start = nl + 1;
      nl = data.indexOf('\n', start);
    }
    this.rest = start === 0 ? data : data.slice(start);
    if (this.rest.length > MAX_LINE_CHARS) {
      this.reset();
      throw new AmiOverflowError(`an AMI line longer than ${MAX_LINE_CHARS} characters`);
    }
  }

  /** Drops any partial message (after a reconnect the new stream starts clean). */
  reset(): void {
    this.rest = '';
    this.current = null;
    this.decoder.end();
  }

  private line(data: string, start: number, end: number): void {
    if (end === start) {
      if (this.current && this.current.size > 0) {
        const msg = this.current;
        this.current = null;
        this.onMessage(msg);
      }
      return;
    }
    const colon = data.indexOf(':', start);
    if (colon === -1 || colon >= end) {
      const text = data.slice(start, end);
      // The greeting has no blank line after it on real servers; mock servers sometimes add one.
      if (!this.current && BANNER.test(text)) {
        this.onBanner(text);
        return;
      }
      // Legacy `Response: Follows` command output: keep it instead of dropping it.
      (this.current ??= new AmiMessage()).add('Output', text);
      return;
    }
    if (this.current && this.current.size >= MAX_HEADERS) {
      this.reset();
      throw new AmiOverflowError(`an AMI message with more than ${MAX_HEADERS} headers`);
    }
    const name = data.slice(start, colon);
    let valueStart = colon + 1;
    if (valueStart < end && data.charCodeAt(valueStart) === 32) valueStart++;
    (this.current ??= new AmiMessage()).add(name, data.slice(valueStart, end));
  }
}

export type AmiFieldValue = string | number | boolean | readonly string[];
export type AmiFields = Record<string, AmiFieldValue | undefined>;

/**
 * Serializes an action (or any message) as AMI text. Arrays become repeated keys.
 * CR/LF inside a value would let a caller inject headers or whole actions, so they are refused.
 */
export function serializeMessage(fields: AmiFields): string {
  let out = '';
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const values = Array.isArray(value) ? (value as readonly string[]) : [String(value)];
    for (const v of values) {
      if (/[\r\n]/.test(v) || /[\r\n:]/.test(name)) {
        throw new Error(`AMI header ${name} contains a line break or colon`);
      }
      out += `${name}: ${v}\r\n`;
    }
  }
  return `${out}\r\n`;
}
