import { RouteConfig } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Metrics, UNKNOWN_TENANT } from './metrics.service';

/**
 * Why a PBX request was refused, as `hub_events_rejected_total` labels it: a fixed set, so the
 * label stays low-cardinality whatever a sender puts in its request.
 */
export type RejectReason =
  /** No credentials at all (no signature, key or token). */
  | 'unauthenticated'
  /** A signature that is malformed or does not match the body. */
  | 'bad_signature'
  /** A signed request whose X-Hub-Timestamp is more than 300 s off. */
  | 'stale_signature'
  /** An API key, bearer token or VATS crm_token that is not the tenant's. */
  | 'bad_token'
  /** Authenticated, but sent from an address outside the source's allowedSenders. */
  | 'forbidden_sender'
  | 'forbidden'
  | 'unknown_tenant'
  /** The tenant has no (usable) PBX source of the endpoint's type. */
  | 'unknown_source'
  /** Fails validation (400). */
  | 'invalid'
  /** A notification too far from the hub's clock (a replay). */
  | 'stale'
  | 'too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  /** Storage or queue unavailable (503): the sender retries. */
  | 'storage'
  /** Any other 4xx. */
  | 'rejected'
  /** Any other 5xx. */
  | 'error';

/** What the code that refused a request knew about it; read when the response is sent. */
interface Note {
  reason?: RejectReason;
  tenantId?: string;
}

const notes = new WeakMap<object, Note>();

function noteOf(req: object): Note {
  let note = notes.get(req);
  if (!note) {
    note = {};
    notes.set(req, note);
  }
  return note;
}

/**
 * Says why the request is about to be refused, for the metrics (the answer's status alone
 * cannot tell a bad signature from an unknown tenant). `tenantId` only of a tenant that exists.
 */
export function noteRejection(req: object, reason: RejectReason, tenantId?: string): void {
  const note = noteOf(req);
  note.reason = reason;
  if (tenantId !== undefined) note.tenantId = tenantId;
}

/** The request's tenant exists (it authenticated, or it was looked up): the metrics may name it. */
export function noteTenant(req: object, tenantId: string): void {
  noteOf(req).tenantId = tenantId;
}

/** The reason of a refusal nobody explained, from its status. */
export function reasonOfStatus(status: number): RejectReason {
  switch (status) {
    case 400:
      return 'invalid';
    case 401:
      return 'unauthenticated';
    case 403:
      return 'forbidden';
    case 404:
      return 'unknown_tenant';
    case 413:
      return 'too_large';
    case 415:
      return 'unsupported_media_type';
    case 429:
      return 'rate_limited';
    case 503:
      return 'storage';
    default:
      return status >= 500 ? 'error' : 'rejected';
  }
}

type Measured = { ingest: string } | { route: true };

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Set by MeasuredIngest / MeasuredRoute on the route. */
    hubMeasured?: Measured;
  }
}

/** A PBX ingest endpoint of `source`: its requests are timed and its refusals counted. */
export const MeasuredIngest = (source: string): MethodDecorator =>
  RouteConfig({ hubMeasured: { ingest: source } satisfies Measured });

/** The route endpoint: its requests are timed. */
export const MeasuredRoute = (): MethodDecorator =>
  RouteConfig({ hubMeasured: { route: true } satisfies Measured });

/**
 * Times the measured endpoints from Fastify's onRequest to the response sent (Fastify's own
 * reply.elapsedTime) and counts every refusal of an ingest endpoint once, here, whichever
 * layer refused it: a request limit, the body parser, a guard, the controller or storage.
 */
export function installIngressMetrics(fastify: FastifyInstance, metrics: Metrics): void {
  fastify.addHook('onResponse', async (req: FastifyRequest, reply: FastifyReply) => {
    const measured = req.routeOptions.config?.hubMeasured;
    if (!measured) return;
    const seconds = reply.elapsedTime / 1000;
    if ('route' in measured) {
      metrics.routeRequestDuration.observe(seconds);
      return;
    }
    const source = measured.ingest;
    metrics.ingestDuration.observe({ source }, seconds);
    if (reply.statusCode < 400) return;
    const note = notes.get(req);
    metrics.eventsRejected.inc({
      source,
      reason: note?.reason ?? reasonOfStatus(reply.statusCode),
      tenant: note?.tenantId ?? UNKNOWN_TENANT,
    });
  });
}
