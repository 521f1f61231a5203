/**
 * The stack's limit for ingest: a bare node:http server (no framework, no validation)
 * doing the same durable work per event as the hub: one INSERT and one queue add.
 */
import Bull from 'bull';
import { createServer } from 'node:http';
import { createPool } from 'mysql2/promise';

export async function startReference(
  databaseUrl: string,
  redisUrl: string,
  prefix: string,
  port: number,
) {
  const pool = createPool({ uri: databaseUrl, connectionLimit: 20 });
  await pool.query(`CREATE TABLE IF NOT EXISTS reference_events (
    id BIGINT AUTO_INCREMENT PRIMARY KEY, event_id VARCHAR(128) NOT NULL UNIQUE, payload JSON NOT NULL)`);
  const queue = new Bull('reference', redisUrl, { prefix });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let id: string;
      try {
        id = (JSON.parse(raw) as { id: string }).id;
      } catch {
        res.writeHead(400).end();
        return;
      }
      pool
        .query('INSERT IGNORE INTO reference_events (event_id, payload) VALUES (?, ?)', [id, raw])
        .then(() => queue.add({ id }, { removeOnComplete: true }))
        .then(() =>
          res.writeHead(202, { 'content-type': 'application/json' }).end('{"accepted":1}'),
        )
        .catch(() => res.writeHead(503).end());
    });
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
  return {
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await queue.empty().catch(() => undefined);
      await queue.close();
      await pool.end();
    },
  };
}
