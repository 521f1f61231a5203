import { Agent as HttpAgent, AgentOptions, ClientRequestArgs } from 'node:http';
import { Agent as HttpsAgent, AgentOptions as HttpsAgentOptions } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { Duplex } from 'node:stream';

/** What an agent asks the outbound policy before and while it connects. */
export interface ConnectGuard {
  /** The refusal of a host that is an IP address (Node skips `lookup` for those), or null. */
  refuseLiteral(host: string, port: number): Error | null;
  /** A `lookup` for net/tls that resolves the name and refuses when any address is not allowed. */
  lookupFor(port: number): LookupFunction;
}

type Callback = (err: Error | null, stream: Duplex) => void;

function guarded(
  guard: ConnectGuard,
  defaultPort: number,
  options: ClientRequestArgs,
  callback: Callback | undefined,
  connect: (options: ClientRequestArgs, callback?: Callback) => Duplex | null | undefined,
): Duplex | null | undefined {
  const host = String(options.host ?? options.hostname ?? 'localhost');
  const port = Number(options.port) || defaultPort;
  const refusal = guard.refuseLiteral(host, port);
  if (refusal) {
    // The agent turns this into an 'error' on the request; nothing goes on the wire.
    callback?.(refusal, undefined as unknown as Duplex);
    return undefined;
  }
  return connect({ ...options, lookup: guard.lookupFor(port) } as ClientRequestArgs, callback);
}

/** An http.Agent whose every connection (keep-alive pool, redirects) passes the outbound policy. */
export class GuardedHttpAgent extends HttpAgent {
  constructor(
    private readonly guard: ConnectGuard,
    options: AgentOptions = {},
  ) {
    super(options);
  }

  override createConnection(options: ClientRequestArgs, callback?: Callback) {
    return guarded(this.guard, 80, options, callback, (o, cb) => super.createConnection(o, cb));
  }
}

/** The https.Agent counterpart: the check runs before TLS, on the resolved address. */
export class GuardedHttpsAgent extends HttpsAgent {
  constructor(
    private readonly guard: ConnectGuard,
    options: HttpsAgentOptions = {},
  ) {
    super(options);
  }

  override createConnection(options: ClientRequestArgs, callback?: Callback) {
    return guarded(this.guard, 443, options, callback, (o, cb) => super.createConnection(o, cb));
  }
}
