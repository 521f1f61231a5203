import { AddressInfo, Server, Socket, createServer } from 'node:net';

/**
 * One action as the fake received it. Parsed here, not by the hub's own AMI parser, so that a
 * fault in that parser cannot hide itself in the tests.
 */
export class ReceivedAction {
  /** Every header in wire order. */
  readonly headers: [string, string][] = [];

  /** The first value of a header (names compared case-insensitively), or undefined. */
  get(name: string): string | undefined {
    const key = name.toLowerCase();
    return this.headers.find(([n]) => n.toLowerCase() === key)?.[1];
  }

  /** The headers as an object (the first value of each). */
  toObject(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, value] of this.headers) if (!(name in out)) out[name] = value;
    return out;
  }
}

/** `Name: value` lines, as Asterisk writes them. */
function lines(headers: readonly (readonly [string, string | undefined])[]): string {
  let out = '';
  for (const [name, value] of headers) if (value !== undefined) out += `${name}: ${value}\r\n`;
  return `${out}\r\n`;
}

export interface FakeAmiOptions {
  username?: string;
  secret?: string;
  banner?: string;
}

/**
 * A fake Asterisk Manager Interface over a real TCP socket: banner, Login, Ping,
 * Originate (recorded, answered Success), Logoff, and replay of captured events.
 */
export class FakeAmiServer {
  /** Every action received, in order (Login secrets included: it is a test double). */
  readonly actions: ReceivedAction[] = [];
  /** The channels Asterisk has now, as CoreShowChannels lists them. */
  channels: { channel: string; uniqueid: string; linkedid: string; state: string }[] = [];
  private readonly server: Server;
  private readonly clients = new Set<Socket>();
  private readonly loggedIn = new Set<Socket>();
  private logins = 0;
  port = 0;

  constructor(private readonly options: FakeAmiOptions = {}) {
    this.server = createServer((socket) => this.onConnection(socket));
  }

  async listen(port = 0): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  /** Logged-in sessions right now. */
  get sessions(): number {
    return this.loggedIn.size;
  }

  /** Successful logins since start. */
  get loginCount(): number {
    return this.logins;
  }

  actionsNamed(name: string): ReceivedAction[] {
    return this.actions.filter((a) => a.get('Action')?.toLowerCase() === name.toLowerCase());
  }

  /** Writes capture events as AMI text to every logged-in client, optionally spaced out. */
  async replay(
    events: readonly Record<string, string>[],
    options: { delayMs?: number } = {},
  ): Promise<void> {
    for (const ev of events) {
      const headers: [string, string][] = [['Event', ev.Event]];
      for (const [k, v] of Object.entries(ev)) {
        // The captures carry an empty `content` key that no Asterisk ever sends.
        if (k === 'Event' || (k === 'content' && v === '')) continue;
        headers.push([k, v]);
      }
      const text = lines(headers);
      for (const socket of this.loggedIn) socket.write(text);
      if (options.delayMs) await new Promise((r) => setTimeout(r, options.delayMs));
    }
  }

  /** Simulates Asterisk dropping every connection (restart, network cut). */
  dropClients(): void {
    for (const socket of this.clients) socket.destroy();
    this.clients.clear();
    this.loggedIn.clear();
  }

  async close(): Promise<void> {
    this.dropClients();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onConnection(socket: Socket): void {
    this.clients.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.clients.delete(socket);
      this.loggedIn.delete(socket);
    });
    socket.write(`${this.options.banner ?? 'Asterisk Call Manager/2.10.4'}\r\n`);
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      let end: number;
      while ((end = buffered.indexOf('\r\n\r\n')) >= 0) {
        const block = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        const action = new ReceivedAction();
        for (const line of block.split('\r\n')) {
          const colon = line.indexOf(':');
          if (colon > 0) action.headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
        }
        if (action.headers.length > 0) this.onAction(socket, action);
      }
    });
  }

  private write(socket: Socket, text: string): void {
    if (!socket.destroyed) socket.write(text);
  }

  private onAction(socket: Socket, msg: ReceivedAction): void {
    this.actions.push(msg);
    const action = (msg.get('Action') ?? '').toLowerCase();
    const id = msg.get('ActionID') ?? '';
    if (action === 'login') {
      const ok =
        msg.get('Username') === (this.options.username ?? 'hub') &&
        msg.get('Secret') === (this.options.secret ?? 'secret');
      if (!ok) {
        this.write(
          socket,
          `Response: Error\r\nActionID: ${id}\r\nMessage: Authentication failed\r\n\r\n`,
        );
        socket.end();
        return;
      }
      this.loggedIn.add(socket);
      this.logins++;
      this.write(
        socket,
        `Response: Success\r\nActionID: ${id}\r\nMessage: Authentication accepted\r\n\r\n` +
          'Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n',
      );
      return;
    }
    if (!this.loggedIn.has(socket)) {
      this.write(
        socket,
        `Response: Error\r\nActionID: ${id}\r\nMessage: Permission denied\r\n\r\n`,
      );
      return;
    }
    switch (action) {
      case 'ping':
        this.write(
          socket,
          `Response: Success\r\nActionID: ${id}\r\nPing: Pong\r\nTimestamp: 0.0\r\n\r\n`,
        );
        break;
      case 'originate':
        this.write(
          socket,
          `Response: Success\r\nActionID: ${id}\r\nMessage: Originate successfully queued\r\n\r\n`,
        );
        this.write(
          socket,
          lines([
            ['Event', 'OriginateResponse'],
            ['Privilege', 'call,all'],
            ['ActionID', id],
            ['Response', 'Success'],
            ['Channel', msg.get('Channel')],
            ['Context', msg.get('Context')],
            ['Exten', msg.get('Exten')],
            ['Reason', '4'],
            ['Uniqueid', msg.get('ChannelId') ?? '<null>'],
          ]),
        );
        break;
      case 'coreshowchannels':
        this.write(
          socket,
          `Response: Success\r\nActionID: ${id}\r\nEventList: start\r\nMessage: Channels will follow\r\n\r\n` +
            this.channels
              .map(
                (c) =>
                  `Event: CoreShowChannel\r\nActionID: ${id}\r\nChannel: ${c.channel}\r\n` +
                  `ChannelStateDesc: ${c.state}\r\nUniqueid: ${c.uniqueid}\r\nLinkedid: ${c.linkedid}\r\n\r\n`,
              )
              .join('') +
            `Event: CoreShowChannelsComplete\r\nActionID: ${id}\r\nEventList: Complete\r\n` +
            `ListItems: ${this.channels.length}\r\n\r\n`,
        );
        break;
      case 'logoff':
        this.write(
          socket,
          `Response: Goodbye\r\nActionID: ${id}\r\nMessage: Thanks for all the fish.\r\n\r\n`,
        );
        socket.end();
        break;
      default:
        this.write(
          socket,
          `Response: Error\r\nActionID: ${id}\r\nMessage: Invalid/unknown command\r\n\r\n`,
        );
    }
  }
}
