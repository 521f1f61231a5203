import { createConnection } from 'mysql2/promise';
import { DataSource, DataSourceOptions } from 'typeorm';
import { MIGRATIONS } from '../../migrations';
export function dataSourceOptions(databaseUrl: string): DataSourceOptions {
  return {
    type: 'mysql',
    url: databaseUrl,
    // Each room registers its own entities (TypeOrmModule.forFeature); migrations need none.
    entities: [],
    migrations: MIGRATIONS,
    synchronize: false,
    migrationsRun: false,
    timezone: 'Z',
    charset: 'utf8mb4_bin',
    supportBigNumbers: true,
    bigNumberStrings: true,
    extra: { connectionLimit: 20, connectTimeout: 5000, enableKeepAlive: true },
    logging: false,
  };
}

/** The database named in the URL, created when missing (the server must exist). */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.slice(1));
  if (!/^[A-Za-z0-9_]+$/.test(name))
    throw new Error('database name must be letters, digits and "_"');
  url.pathname = '/';
  const conn = await createConnection({ uri: url.toString(), connectTimeout: 5000 });
  try {
    await conn.query(
      `CREATE DATABASE IF NOT EXISTS \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`,
    );
  } finally {
    await conn.end();
  }
}

const LOCK_NAME = 'telephony_hub_migrations';

/**
 * Applies pending migrations while holding a database-wide lock, so instances that
 * start together migrate once and the others wait and find nothing left to do.
 */
export async function migrate(
  databaseUrl: string,
  direction: 'run' | 'revert' = 'run',
): Promise<string[]> {
  await ensureDatabase(databaseUrl);
  const ds = new DataSource(dataSourceOptions(databaseUrl));
  await ds.initialize();
  const runner = ds.createQueryRunner();
  try {
    await runner.connect();
    const [{ got }] = (await runner.query('SELECT GET_LOCK(?, 120) AS got', [LOCK_NAME])) as {
      got: number;
    }[];
    if (Number(got) !== 1) throw new Error('could not take the migration lock within 120 s');
    try {
      if (direction === 'revert') {
        await ds.undoLastMigration({ transaction: 'each' });
        return [];
      }
      const applied = await ds.runMigrations({ transaction: 'each' });
      return applied.map((m) => m.name);
    } finally {
      await runner.query('SELECT RELEASE_LOCK(?)', [LOCK_NAME]);
    }
  } finally {
    await runner.release();
    await ds.destroy();
  }
}
