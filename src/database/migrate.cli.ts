import 'reflect-metadata';
import { loadConfig } from '../config/config';
import { prepareEnv } from '../config/dotenv';
import { migrate } from './database';

async function main(): Promise<void> {
  const direction = process.argv[2] === 'revert' ? 'revert' : 'run';
  prepareEnv();
  const config = loadConfig();
  const applied = await migrate(config.databaseUrl, direction);
  console.log(
    direction === 'revert'
      ? 'reverted the last migration'
      : `applied: ${applied.join(', ') || 'nothing pending'}`,
  );
}

main().catch((err: Error) => {
  console.error(err.message);
  process.exit(1);
});
