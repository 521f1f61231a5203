import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

const isBuilt = (dir: string) =>
  existsSync(join(dir, 'index.html')) && existsSync(join(dir, 'assets'));

/**
 * The built console: HUB_CONSOLE_DIR when set, else dist/console seen from the compiled hub
 * or from its sources; null when it is not built there.
 */
function consoleDir(configured: string | null): string | null {
  const candidates = configured
    ? [configured]
    : [
        resolve(__dirname, '..', '..', 'dist', 'console'),
        resolve(__dirname, '..', '..', 'console'),
      ];
  return candidates.find(isBuilt) ?? null;
}

interface Asset {
  body: Buffer;
  type: string;
}

function readAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(join(dir, 'assets'))) {
    const type = TYPES[extname(name)];
    if (type) assets.set(name, { body: readFileSync(join(dir, 'assets', name)), type });
  }
  return assets;
}

/**
 * The page may load its own files, reach the hub's API and play recordings from the hub's
 * public address; nothing else, and no other site may frame it.
 */
function securityHeaders(publicUrl: string): Record<string, string> {
  const origin = new URL(publicUrl).origin;
  return {
    'content-security-policy': [
      "default-src 'self'",
      "script-src 'self'",
      "style-src 'self' 'unsafe-inline'",
      "img-src 'self' data:",
      `media-src 'self' ${origin}`,
      "connect-src 'self'",
      "frame-ancestors 'none'",
      "base-uri 'none'",
      "form-action 'self'",
    ].join('; '),
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
    'referrer-policy': 'no-referrer',
  };
}

/**
 * Serves the web console at /console/ from memory. It is a client of the public API and
 * holds no secrets itself: the page is public, its requests carry the credential.
 */
export function mountConsole(
  fastify: FastifyInstance,
  publicUrl: string,
  configured: string | null,
): void {
  const dir = consoleDir(configured);
  const headers = securityHeaders(publicUrl);
  const index = dir ? readFileSync(join(dir, 'index.html')) : null;
  const assets = dir ? readAssets(dir) : new Map<string, Asset>();

  fastify.get('/console', (_req, reply) => reply.redirect('/console/', 302));
  fastify.get('/console/', (_req, reply) => {
    if (!index) {
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .send('The web console is not built: run `npm run build`.\n');
    }
    return reply
      .headers({ ...headers, 'cache-control': 'no-cache' })
      .type(TYPES['.html'])
      .send(index);
  });
  fastify.get<{ Params: { file: string } }>('/console/assets/:file', (req, reply) => {
    const asset = assets.get(req.params.file);
    if (!asset) {
      return reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'no such file' });
    }
    // File names carry a hash of their content: a new build has new names.
    return reply
      .headers({ ...headers, 'cache-control': 'public, max-age=31536000, immutable' })
      .type(asset.type)
      .send(asset.body);
  });
}
