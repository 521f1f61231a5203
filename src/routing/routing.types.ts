export const ROUTE_REASONS = [
  'responsible',
  'unknown_caller',
  'no_agent',
  'crm_timeout',
  'crm_error',
] as const;
export type RouteReason = (typeof ROUTE_REASONS)[number];

export interface RouteInput {
  callId: string;
  /** The caller as dialled; normalized with the tenant's default country. */
  from: string;
  /** The company number dialled, if known. */
  to?: string;
}

export interface RouteDecision {
  extension: string | null;
  reason: RouteReason;
  agent?: { extension: string; name?: string | null };
  contact?: { id: string; name?: string; integrationId: string };
  /** What the reason leaves out, e.g. that the responsible manager is off shift. */
  detail?: string;
  /** Privacy mode: the client code, what the PBX shows agents instead of the number. */
  display?: string;
  /** Privacy mode: a caller name built from the code, for the PBX's caller ID. */
  callerName?: string;
}
