import { createServer, Server } from 'node:http';
import Redis from 'ioredis';
import { createConnection } from 'mysql2/promise';
import { redisOptionsFromUrl } from './common/redis-options';
import type { AppConfig } from './config/config';

const PROBE_TIMEOUT_MS = 3000;
const RETRY_MS = 2000;
/** A dependency still down is named again this often while the hub waits for it. */
const REPEAT_LOG_MS = 30_000;

/** One JSON log line in pino's shape, before the app (and its logger) exists. */
export function log(level: 'info' | 'warn' | 'error', msg: string, extra: object = {}): void {
  const n = { info: 30, warn: 40, error: 50 }[level];
  const line = JSON.stringify({ level: n, time: Date.now(), msg, ...extra });
  if (level === 'info') console.log(line);
  else console.error(line);
}

/** A URL without its user and password, for log lines. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(unparseable URL)';
  }
}

async function probeDatabase(url: string): Promise<void> {
  const server = new URL(url);
  server.pathname = '/';
  const conn = await createConnection({ uri: server.toString(), connectTimeout: PROBE_TIMEOUT_MS });
  await conn.end();
}

async function probeRedis(url: string): Promise<void> {
  const client = new Redis({
    ...redisOptionsFromUrl(url),
    lazyConnect: true,
    connectTimeout: PROBE_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
  } finally {
    client.disconnect();
  }
}

/** While the hub waits: live (the process is fine), not ready (it cannot work yet). */
function waitingServer(reasons: () => string[]): Server {
  return createServer((req, res) => {
    const live = req.url === '/health/live';
    const body = live
      ? { status: 'ok' }
      : { status: 'error', error: { startup: { status: 'down', waitingFor: reasons() } } };
    res.writeHead(live ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
}

/**
 * Waits until MariaDB and Redis answer. A dependency that does not is named in a log line
 * within seconds (and again every 30 s); meanwhile /health/live answers 200 and every
 * other path 503, so a supervisor sees a live process that is not ready yet.
 */
export async function waitForDependencies(config: AppConfig): Promise<void> {
  const deps = [
    { name: 'MariaDB', url: config.databaseUrl, probe: probeDatabase },
    { name: 'Redis', url: config.redisUrl, probe: probeRedis },
  ];
  const down = new Map<string, string>();
  const lastLogged = new Map<string, number>();
  let server: Server | null = null;
  for (;;) {
    await Promise.all(
      deps.map(async (dep) => {
        try {
          await dep.probe(dep.url);
          if (down.delete(dep.name)) log('info', `${dep.name} is reachable again`);
        } catch (err) {
          const reason = (err as Error).message || (err as { code?: string }).code || 'no answer';
          down.set(dep.name, reason);
          const last = lastLogged.get(dep.name) ?? 0;
          if (Date.now() - last >= REPEAT_LOG_MS) {
            lastLogged.set(dep.name, Date.now());
            log(
              'error',
              `${dep.name} is unreachable at ${redactUrl(dep.url)}: ${reason}; waiting`,
              {
                dependency: dep.name,
              },
            );
          }
        }
      }),
    );
    if (down.size === 0) break;
    if (!server) {
      server = waitingServer(() => [...down.keys()]);
      await new Promise<void>((resolve) => {
        server!.once('error', (err) => {
          log('warn', `could not serve health checks while waiting: ${err.message}`);
          server = null;
          resolve();
        });
        server!.listen(config.port, config.host, () => resolve());
      });
    }
    await new Promise((r) => setTimeout(r, RETRY_MS));
  }
  if (server) await new Promise((r) => (server as Server).close(r));
}
