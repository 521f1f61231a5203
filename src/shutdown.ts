import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Lifecycle } from './common/lifecycle';
import type { AppConfig } from './config/config';
import { log } from './startup';

/**
 * SIGTERM/SIGINT: readiness turns 503 and workers take no new jobs at once; work in flight
 * has HUB_SHUTDOWN_S to finish, then what is left is released for other instances and the
 * process exits 1. A second signal exits at once.
 */
export function handleSignals(app: NestFastifyApplication, config: AppConfig): void {
  const lifecycle = app.get(Lifecycle);
  let stopping = false;
  const stop = async (signal: string): Promise<void> => {
    if (stopping) {
      log('warn', `${signal} again: exiting now`);
      process.exit(1);
    }
    stopping = true;
    log('info', `${signal}: stopping; work in flight has ${config.shutdownS} s to finish`);
    const deadline = setTimeout(() => {
      log('warn', 'shutdown time is up: releasing unfinished work and exiting');
      void Promise.race([lifecycle.forceStop(), new Promise((r) => setTimeout(r, 2000))]).then(() =>
        process.exit(1),
      );
    }, config.shutdownS * 1000);
    try {
      await lifecycle.beginStop();
      await app.close();
    } catch (err) {
      log('error', `shutdown failed: ${(err as Error).message}`);
      process.exit(1);
    }
    clearTimeout(deadline);
    log('info', 'stopped');
    process.exit(0);
  };
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => void stop(signal));
  }
}
