import { AddressInfo, Server, Socket, createServer } from 'node:net';
import {
  AmiFields,
  AmiMessage,
  AmiParser,
  serializeMessage,
} from '../../src/pbx/asterisk/ami-protocol';

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
  readonly actions: AmiMessage[] = [];
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

  actionsNamed(name: string): AmiMessage[] {
    return this.actions.filter((a) => a.get('Action')?.toLowerCase() === name.toLowerCase());
  }

  /** Writes capture events as AMI text to every logged-in client, optionally spaced out. */
  async replay(
    events: readonly Record<string, string>[],
    options: { delayMs?: number } = {},
  ): Promise<void> {
    for (const ev of events) {
      const fields: AmiFields = { Event: ev.Event };
      for (const [k, v] of Object.entries(ev)) {
        // The captures carry an empty `content` key that no Asterisk ever sends.
        if (k === 'Event' || (k === 'content' && v === '')) continue;
        fields[k] = v;
      }
      const text = serializeMessage(fields);
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
    const parser = new AmiParser((msg) => this.onAction(socket, msg));
    socket.on('data', (chunk) => parser.push(chunk));
  }

  private reply(socket: Socket, fields: AmiFields): void {
    if (!socket.destroyed) socket.write(serializeMessage(fields));
  }

  private onAction(socket: Socket, msg: AmiMessage): void {
    this.actions.push(msg);
    const action = (msg.get('Action') ?? '').toLowerCase();
    const ActionID = msg.actionId;
    if (action === 'login') {
      const ok =
        msg.get('Username') === (this.options.username ?? 'hub') &&
        msg.get('Secret') === (this.options.secret ?? 'secret');
      if (!ok) {
        this.reply(socket, { Response: 'Error', ActionID, Message: 'Authentication failed' });
        socket.end();
        return;
      }
      this.loggedIn.add(socket);
      this.logins++;
      this.reply(socket, { Response: 'Success', ActionID, Message: 'Authentication accepted' });
      this.reply(socket, { Event: 'FullyBooted', Privilege: 'system,all', Status: 'Fully Booted' });
      return;
    }
    if (!this.loggedIn.has(socket)) {
      this.reply(socket, { Response: 'Error', ActionID, Message: 'Permission denied' });
      return;
    }
    switch (action) {
      case 'ping':
        this.reply(socket, { Response: 'Success', ActionID, Ping: 'Pong', Timestamp: '0.0' });
        break;
      case 'originate':
        this.reply(socket, {
          Response: 'Success',
          ActionID,
          Message: 'Originate successfully queued',
        });
        this.reply(socket, {
          Event: 'OriginateResponse',
          Privilege: 'call,all',
          ActionID,
          Response: 'Success',
          Channel: msg.get('Channel'),
          Context: msg.get('Context'),
          Exten: msg.get('Exten'),
          Reason: '4',
          Uniqueid: msg.get('ChannelId') ?? '<null>',
        });
        break;
      case 'logoff':
        this.reply(socket, { Response: 'Goodbye', ActionID, Message: 'Thanks for all the fish.' });
        socket.end();
        break;
      default:
        this.reply(socket, { Response: 'Error', ActionID, Message: 'Invalid/unknown command' });
    }
  }
}
