/** What a sandbox receives and answers. */

/** A request as the sandbox received it. */
export interface SandboxRequest {
  method: string;
  /** Full path without the query string. */
  path: string;
  query: Record<string, string>;
  /** Lower-case header names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  rawBody: string;
  /** Urlencoded body fields, as `decodeForm` made them. */
  form: Record<string, unknown>;
  /** A JSON body, parsed; undefined for other bodies. */
  json?: unknown;
  /** Arrival time, ms since the epoch. */
  at: number;
}

export interface SandboxReply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}
