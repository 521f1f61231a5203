import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import { Socket, createConnection } from 'node:net';
import { describeNetworkFailure, isAddressNotAllowed } from '../../connector-sdk';
import { AmiFields, AmiMessage, AmiParser, serializeMessage } from './ami-protocol';

export interface AmiClientOptions {
  host: string;
  port: number;
  username: string;
  secret: string;
  /** Login `Events:` value: 'on', 'off' or a class list such as 'call,agent'. */
  events?: string;
  /** Only these event names reach 'event' listeners (undefined: all). */
  eventAllowList?: ReadonlySet<string>;
  connectTimeoutMs?: number;
  actionTimeoutMs?: number;
  pingIntervalMs?: number;
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /**
   * Opens the TCP connection (default: net.createConnection). The hub passes its outbound
   * policy's connect, so a host that resolves to a refused address is never reached.
   */
  connect?: (target: { host: string; port: number }) => Socket;
}

export interface AmiActionResult {
  response: AmiMessage;
  /** The events of an event-list action, up to and including the `EventList: Complete` one. */
  events: AmiMessage[];
}

export class AmiError extends Error {
  constructor(
    message: string,
    readonly kind: 'auth' | 'timeout' | 'closed' | 'rejected' | 'connect' | 'not_allowed',
  ) {
    super(message);
  }
}

export interface AmiClientEvents {
  connected: [];
  disconnected: [reason: string];
  event: [event: AmiMessage];
  error: [error: AmiError];
}

interface Pending {
  resolve: (r: AmiActionResult) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  response?: AmiMessage;
  events: AmiMessage[];
}

/**
 * A small typed AMI client: one TCP connection, Login, ActionID-correlated actions,
 * Ping keepalive, and reconnect with exponential backoff + jitter after any drop.
 * The secret is never logged or put in an error message.
 */
export class AmiClient extends EventEmitter<AmiClientEvents> {
  private socket: Socket | null = null;
  private readonly pending = new Map<string, Pending>();
  private readonly idPrefix = randomBytes(4).toString('hex');
  private seq = 0;
  private attempt = 0;
  private closed = true;
  private loggedIn = false;
  private reconnectTimer?: NodeJS.Timeout;
  private pingTimer?: NodeJS.Timeout;
  private readonly opts: Required<Omit<AmiClientOptions, 'eventAllowList'>> &
    Pick<AmiClientOptions, 'eventAllowList'>;

  constructor(options: AmiClientOptions) {
    super();
    this.opts = {
      events: 'on',
      connectTimeoutMs: 5000,
      actionTimeoutMs: 10000,
      pingIntervalMs: 10000,
      reconnectMinMs: 500,
      reconnectMaxMs: 30000,
      connect: (target) => createConnection(target),
      ...options,
    };
  }

  get connected(): boolean {
    return this.loggedIn;
  }

  /** Connects and keeps reconnecting until close(). */
  start(): void {
    if (!this.closed) return;
    this.closed = false;
    this.connect();
  }

  /** Sends an action and resolves with its response (and list events); rejects on Error or timeout. */
  action(fields: AmiFields, timeoutMs = this.opts.actionTimeoutMs): Promise<AmiActionResult> {
    if (!this.loggedIn || !this.socket) {
      return Promise.reject(new AmiError('AMI is not connected', 'closed'));
    }
    return this.send(this.socket, fields, timeoutMs);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.pingTimer);
    const socket = this.socket;
    if (!socket) return;
    if (this.loggedIn) {
      // A polite Logoff lets Asterisk log a clean session end; don't wait long for it.
      await this.send(socket, { Action: 'Logoff' }, 1000).catch(() => undefined);
    }
    socket.destroy();
    await new Promise<void>((resolve) => {
      if (socket.closed) resolve();
      else socket.once('close', () => resolve());
    });
  }

  /** 'error' without a listener would throw out of a socket callback; report only when someone listens. */
  private fail(error: AmiError): void {
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  private nextId(): string {
    this.seq += 1;
    return `hub-${this.idPrefix}-${this.seq}`;
  }

  private send(socket: Socket, fields: AmiFields, timeoutMs: number): Promise<AmiActionResult> {
    const actionId = this.nextId();
    let text: string;
    try {
      text = serializeMessage({ ...fields, ActionID: actionId });
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise<AmiActionResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(actionId);
        reject(new AmiError(`AMI action ${String(fields.Action)} timed out`, 'timeout'));
      }, timeoutMs);
      this.pending.set(actionId, { resolve, reject, timer, events: [] });
      socket.write(text);
    });
  }

  private connect(): void {
    if (this.closed) return;
    const socket = this.opts.connect({ host: this.opts.host, port: this.opts.port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10000);
    const connectTimer = setTimeout(() => {
      this.fail(new AmiError('AMI connect timed out', 'connect'));
      socket.destroy();
    }, this.opts.connectTimeoutMs);
    const parser = new AmiParser((msg) => this.onMessage(msg));
    socket.on('data', (chunk) => {
      try {
        parser.push(chunk);
      } catch (err) {
        // Bounded buffers: a peer that floods gets hung up on (and reconnected to).
        socket.destroy(new AmiError(`AMI stream refused: ${(err as Error).message}`, 'connect'));
      }
    });
    socket.once('connect', () => {
      clearTimeout(connectTimer);
      void this.login(socket);
    });
    socket.on('error', (err) => {
      // The socket's own text names the address and port; the source's status shows this.
      this.fail(
        isAddressNotAllowed(err)
          ? new AmiError(err.message, 'not_allowed')
          : new AmiError(`AMI socket error: ${describeNetworkFailure(err)}`, 'connect'),
      );
    });
    socket.once('close', () => {
      clearTimeout(connectTimer);
      this.onClose(socket);
    });
  }

  private async login(socket: Socket): Promise<void> {
    try {
      await this.send(
        socket,
        {
          Action: 'Login',
          Username: this.opts.username,
          Secret: this.opts.secret,
          Events: this.opts.events,
        },
        this.opts.actionTimeoutMs,
      );
    } catch (err) {
      const e = err as AmiError;
      const authFailed = e.kind === 'rejected';
      this.fail(authFailed ? new AmiError('AMI authentication failed', 'auth') : e);
      socket.destroy();
      return;
    }
    if (socket !== this.socket || this.closed) return;
    this.loggedIn = true;
    this.attempt = 0;
    this.pingTimer = setInterval(() => this.ping(socket), this.opts.pingIntervalMs);
    this.emit('connected');
  }

  private ping(socket: Socket): void {
    this.send(socket, { Action: 'Ping' }, Math.min(this.opts.actionTimeoutMs, 5000)).catch(() => {
      // A silent peer (half-open TCP) is only noticed here: drop it and reconnect.
      this.fail(new AmiError('AMI ping failed; reconnecting', 'timeout'));
      socket.destroy();
    });
  }

  private onMessage(msg: AmiMessage): void {
    const id = msg.actionId;
    const pending = id !== undefined ? this.pending.get(id) : undefined;
    if (pending && id !== undefined) {
      if (msg.response !== undefined) {
        const ok = /^(success|goodbye|follows|pong)$/i.test(msg.response);
        if (!ok) {
          this.settle(id, pending);
          pending.reject(new AmiError(msg.get('Message') ?? 'AMI action failed', 'rejected'));
          return;
        }
        pending.response = msg;
        if (!/^start$/i.test(msg.get('EventList') ?? '')) {
          this.settle(id, pending);
          pending.resolve({ response: msg, events: [] });
        }
        return;
      }
      if (pending.response && msg.event !== undefined) {
        pending.events.push(msg);
        if (/^complete$/i.test(msg.get('EventList') ?? '')) {
          this.settle(id, pending);
          pending.resolve({ response: pending.response, events: pending.events });
        }
        return;
      }
    }
    const name = msg.event;
    if (name === undefined) return;
    if (this.opts.eventAllowList && !this.opts.eventAllowList.has(name)) return;
    this.emit('event', msg);
  }

  private settle(id: string, pending: Pending): void {
    clearTimeout(pending.timer);
    this.pending.delete(id);
  }

  private onClose(socket: Socket): void {
    if (socket !== this.socket) return;
    this.socket = null;
    clearInterval(this.pingTimer);
    const wasLoggedIn = this.loggedIn;
    this.loggedIn = false;
    for (const [id, p] of this.pending) {
      this.settle(id, p);
      p.reject(new AmiError('AMI connection closed', 'closed'));
    }
    if (wasLoggedIn) this.emit('disconnected', this.closed ? 'closed' : 'connection lost');
    if (this.closed) return;
    const base = Math.min(this.opts.reconnectMaxMs, this.opts.reconnectMinMs * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 20);
    // Full jitter on the upper half keeps a fleet of hubs from reconnecting in lockstep.
    const delay = Math.round(base / 2 + (Math.random() * base) / 2);
    this.reconnectTimer = setTimeout(() => this.connect(), delay);
  }
}
