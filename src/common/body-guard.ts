import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Deeper than any request of the contract; deep enough trees would overflow the transformers. */
export const MAX_BODY_DEPTH = 32;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** The first problem of a parsed body, or null: too deep, or a key that reaches prototypes. */
export function bodyProblem(value: unknown, path = 'body', depth = 0): string | null {
  if (value === null || typeof value !== 'object') return null;
  if (depth >= MAX_BODY_DEPTH) return `${path} is nested deeper than ${MAX_BODY_DEPTH} levels`;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const p = bodyProblem(value[i], `${path}.${i}`, depth + 1);
      if (p) return p;
    }
    return null;
  }
  for (const key of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(key)) return `${path}.${key} is not an allowed field name`;
    const p = bodyProblem((value as Record<string, unknown>)[key], `${path}.${key}`, depth + 1);
    if (p) return p;
  }
  return null;
}

/**
 * Refuses hostile request bodies before any route sees them: a JSON `null` where an
 * object is expected, trees deep enough to overflow the stack, and prototype keys.
 */
export function installBodyGuard(fastify: FastifyInstance): void {
  fastify.addHook('preValidation', async (req: FastifyRequest, reply: FastifyReply) => {
    if (!['POST', 'PUT', 'PATCH'].includes(req.method)) return;
    const isJson = /^application\/json\b/i.test(String(req.headers['content-type'] ?? ''));
    const problem =
      isJson && req.body === null
        ? 'body must be a JSON object or array, not null'
        : bodyProblem(req.body);
    if (problem) {
      await reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: problem });
    }
  });
}
