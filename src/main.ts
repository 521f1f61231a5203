import 'reflect-metadata';
import { createApp } from './bootstrap';
import { ConfigError, loadConfig } from './config/config';
import { prepareEnv } from './config/dotenv';
import { migrate } from './database/database';

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
  const applied = await migrate(config.databaseUrl);
  if (applied.length)
    console.log(JSON.stringify({ level: 30, msg: 'migrations applied', applied }));
  const app = await createApp(config);
  await app.listen({ port: config.port, host: config.host });
}

main().catch((err: Error) => {
  console.error(`hub failed to start: ${err.message}`);
  process.exit(1);
});
