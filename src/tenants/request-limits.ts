import { HttpException } from '@nestjs/common';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { RequestLimiter } from './request-limiter.service';

/** Monitoring is never limited. */
const EXEMPT = /^\/(health\/|metrics\b)/;
/** PBX vendors (Zadarma) sign in the route and send from addresses every tenant shares. */
const PBX_INGRESS = /^\/v1\/pbx\//;
const CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'x-hub-signature'];

function tooMany(reply: FastifyReply, waitMs: number, message: string): FastifyReply {
  const seconds = Math.max(1, Math.ceil(waitMs / 1000));
  return reply
    .code(429)
    .header('retry-after', String(seconds))
    .send({
      statusCode: 429,
      error: 'Too Many Requests',
      message: `${message}; retry after ${seconds} s`,
    });
}

/**
 * Limits per source address, before any route runs: an address that failed authentication
 * too often is refused, and requests without credentials are counted. A 401 or 403 answer
 * counts as a failed authentication of its address.
 */
export function installRequestLimits(fastify: FastifyInstance, limiter: RequestLimiter): void {
  fastify.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    if (EXEMPT.test(req.url)) return;
    const blocked = limiter.blockedFor(req.ip);
    if (blocked > 0) {
      return tooMany(
        reply,
        blocked,
        'too many failed or unauthenticated requests from this address',
      );
    }
    const anonymous = !CREDENTIAL_HEADERS.some((h) => req.headers[h] !== undefined);
    if (anonymous && !PBX_INGRESS.test(req.url)) {
      const wait = await limiter.anonymous(req.ip);
      if (wait > 0)
        return tooMany(reply, wait, 'too many requests without credentials from this address');
    }
  });
  fastify.addHook('onResponse', async (req: FastifyRequest, reply: FastifyReply) => {
    if (reply.statusCode === 401 || reply.statusCode === 403) await limiter.authFailed(req.ip);
  });
}

/**
 * Authenticated requests per tenant (the operator's admin token is not limited): called by
 * the guards once they know the tenant, so the limit costs no interceptor on every route.
 */
export async function checkTenantLimit(
  limiter: RequestLimiter,
  auth: { kind: string; tenantId?: string } | undefined,
  reply: FastifyReply,
): Promise<void> {
  if (!auth?.tenantId || auth.kind === 'admin') return;
  const wait = await limiter.tenant(auth.tenantId);
  if (wait <= 0) return;
  const seconds = Math.max(1, Math.ceil(wait / 1000));
  reply.header('retry-after', String(seconds));
  throw new HttpException(
    {
      statusCode: 429,
      error: 'Too Many Requests',
      message: `the tenant's request limit is reached; retry after ${seconds} s`,
    },
    429,
  );
}
