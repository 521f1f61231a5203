import { createBullBoard } from '@bull-board/api';
import { BullAdapter } from '@bull-board/api/bullAdapter';
import { FastifyAdapter as BoardAdapter } from '@bull-board/fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isAdminToken } from '../common/secret-box';
import { JobQueue } from './job-queue.service';

export const DASHBOARD_PATH = '/admin/queues';

/** HUB_ADMIN_TOKEN and, during a rollover, HUB_ADMIN_TOKEN_PREVIOUS. */
type AdminTokens = { adminToken: string; adminTokenPrevious: string | null };

/** Accepts "Bearer <token>" or Basic auth whose password is the token (so a browser can log in). */
function authorized(req: FastifyRequest, tokens: AdminTokens): boolean {
  const header = req.headers.authorization ?? '';
  const bearer = /^Bearer\s+(.+)$/i.exec(header);
  if (bearer) return isAdminToken(bearer[1], tokens);
  const basic = /^Basic\s+(.+)$/i.exec(header);
  if (basic) {
    const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
    return isAdminToken(decoded.slice(decoded.indexOf(':') + 1), tokens);
  }
  return false;
}

/** bull-board under /admin/queues, behind the operator token. */
export async function mountQueueDashboard(
  fastify: FastifyInstance,
  queue: JobQueue,
  adminTokens: AdminTokens,
): Promise<void> {
  const serverAdapter = new BoardAdapter();
  serverAdapter.setBasePath(DASHBOARD_PATH);
  createBullBoard({ queues: queue.rawQueues().map((q) => new BullAdapter(q)), serverAdapter });
  fastify.get(DASHBOARD_PATH, async (req, reply) => {
    if (!authorized(req, adminTokens)) {
      return reply
        .code(401)
        .header('WWW-Authenticate', 'Basic realm="hub queues"')
        .send({ statusCode: 401, error: 'Unauthorized', message: 'admin token required' });
    }
    return reply.redirect(`${DASHBOARD_PATH}/`);
  });
  await fastify.register(
    async (scope) => {
      scope.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
        if (!authorized(req, adminTokens)) {
          await reply
            .code(401)
            .header('WWW-Authenticate', 'Basic realm="hub queues"')
            .send({ statusCode: 401, error: 'Unauthorized', message: 'admin token required' });
        }
      });
      await scope.register(serverAdapter.registerPlugin(), { prefix: '/' });
    },
    { prefix: DASHBOARD_PATH },
  );
}
