import 'reflect-metadata';
import { ConfigError, loadConfig } from './config/config';
import { prepareEnv } from './config/dotenv';
import { log, waitForDependencies } from './startup';

async function main(): Promise<void> {
  let config;
  try {
    prepareEnv();
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  // The dependencies are checked before the app is even loaded, so that a missing one is
  // named within seconds of the start.
  await waitForDependencies(config);
  const { migrate } = await import('./database/database');
  const applied = await migrate(config.databaseUrl);
  if (applied.length) log('info', 'migrations applied', { applied });
  const { createApp } = await import('./bootstrap');
  const { handleSignals } = await import('./shutdown');
  const app = await createApp(config);
  handleSignals(app, config);
  await app.listen({ port: config.port, host: config.host });
}

main().catch((err: Error) => {
  console.error(`hub failed to start: ${err.message}`);
  process.exit(1);
});
