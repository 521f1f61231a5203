import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Loads ./.env when present. On a first local start without any secrets it writes a
 * .env with freshly generated ones (never in production), so `npm start` works on a
 * new machine; the values stay in that file and are never printed.
 */
export function prepareEnv(cwd = process.cwd(), env = process.env): string | null {
  const file = join(cwd, '.env');
  if (!existsSync(file)) {
    const needsSecrets = !env.HUB_ADMIN_TOKEN && !env.HUB_ENCRYPTION_KEY;
    const example = join(cwd, '.env.example');
    if (!needsSecrets || env.NODE_ENV === 'production' || !existsSync(example)) return null;
    const text = readFileSync(example, 'utf8')
      .replace(/^HUB_ADMIN_TOKEN=.*$/m, `HUB_ADMIN_TOKEN=${randomBytes(32).toString('base64url')}`)
      .replace(
        /^HUB_ENCRYPTION_KEY=.*$/m,
        `HUB_ENCRYPTION_KEY=${randomBytes(32).toString('base64')}`,
      )
      // A local start talks to sandboxes on this machine; 127.0.0.2, ::1 and the hub's own
      // port stay refused.
      .replace(/^HUB_OUTBOUND_ALLOW=.*$/m, 'HUB_OUTBOUND_ALLOW=127.0.0.1');
    writeFileSync(file, text, { mode: 0o600 });
    console.log(
      `created ${file} with a new admin token and encryption key (keep it; never commit it)`,
    );
  }
  for (const line of readFileSync(file, 'utf8').split(/\r?\n/)) {
    const m = /^\s*([A-Z0-9_]+)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m || line.trimStart().startsWith('#')) continue;
    const value = m[2].replace(/^(['"])(.*)\1$/, '$2');
    if (env[m[1]] === undefined && value !== '') env[m[1]] = value;
  }
  return file;
}
