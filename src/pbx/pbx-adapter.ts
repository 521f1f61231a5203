import type { NormalizedEvent } from '../calls/call-event';
import type { OutboundDestination } from '../common/outbound-policy';
import type { PbxSource } from './pbx-source.entity';

/**
 * The PBX adapter contract. A PBX source type is a folder under src/pbx/ with a Nest
 * module listed in src/pbx/index.ts; on start the module registers its adapter (config
 * and credential schemas, and an originator when the PBX can place calls) with
 * PbxAdapters. Its ingress controller, mapper and client stay inside the folder.
 */
export interface PbxAdapter {
  /** The source `type` clients create (`generic`, `zadarma`, ...). */
  type: string;
  displayName: string;
  /** class-validator DTO of the source's config; unknown fields are refused. */
  configSchema: new () => object;
  /** Of its credentials, when it has any (they are stored encrypted, never returned). */
  credentialsSchema?: new () => object;
  /** Places calls (click-to-call), when this PBX can. */
  originator?: PbxOriginator;
  /**
   * Where the PBX sends its webhooks, when it calls the hub (a source the hub connects to,
   * like Asterisk's AMI, has none): `path` under `/v1/pbx/:tenantId/`, and how a request
   * proves it is the PBX: `hub-signature` is X-Hub-Signature with the tenant's webhookSecret
   * (which an admin copies into the PBX), `pbx` is the PBX's own scheme with the source's
   * credentials. The admin console shows it as the URL to set on the PBX side.
   */
  ingress?: PbxIngress;
  /**
   * Hosts the hub connects to that are not URLs (AMI's host and port), checked against the
   * outbound policy when a source is created or changed. Config strings that are http(s)
   * URLs are checked without this.
   */
  destinations?(config: Record<string, unknown>): OutboundDestination[];
  /** The PBX's employees, for building the agent map (PBXs that can list them). */
  users?(source: PbxSource, credentials: Record<string, unknown> | null): Promise<PbxUser[]>;
  /**
   * The PBX's own record of the calls that started in [from, to), each call as the events
   * that describe it whole (start, who rang and answered, the end, the recording), for
   * importing calls the hub missed (PBXs that keep a call history).
   */
  history?(
    source: PbxSource,
    credentials: Record<string, unknown> | null,
    period: HistoryPeriod,
  ): Promise<NormalizedEvent[][]>;
}

export interface PbxIngress {
  path: string;
  signing: PbxSigning;
}

export type PbxSigning = 'hub-signature' | 'pbx';

export interface HistoryPeriod {
  from: Date;
  to: Date;
  /** The tenant's, for PBXs whose API speaks local time and national numbers. */
  timezone: string;
  defaultCountry: string;
}

/** An employee of the PBX: its login, extension and mobile, as the agent map needs them. */
export interface PbxUser {
  login: string;
  name: string | null;
  extension: string | null;
  mobile: string | null;
}

export interface OriginateRequest {
  requestId: string;
  tenantId: string;
  /** The agent's extension, rung first. */
  extension: string;
  /** The number to call, E.164 (allowed by the tenant's dial policy), or an internal extension. */
  to: string;
}

export interface PbxOriginator {
  /** Whether a source is set up to place calls (a generic source needs its originateUrl). */
  canOriginate(source: PbxSource): boolean;
  /** Asks the PBX to place the call; resolves once the PBX accepted the request. */
  originate(
    source: PbxSource,
    credentials: Record<string, unknown> | null,
    request: OriginateRequest,
  ): Promise<void>;
}

/**
 * What can go wrong asking a PBX for something: it refused the request (a bad extension,
 * wrong credentials) → 422; it could not be reached or did not answer → 503; the source
 * is not set up for it → 422.
 */
export type PbxErrorCode = 'refused' | 'unreachable' | 'not_configured';

export class PbxError extends Error {
  constructor(
    readonly code: PbxErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'PbxError';
  }

  static refused(message: string): PbxError {
    return new PbxError('refused', message);
  }

  static unreachable(message: string): PbxError {
    return new PbxError('unreachable', message);
  }

  static notConfigured(message: string): PbxError {
    return new PbxError('not_configured', message);
  }

  /** The HTTP status a client sees. */
  get httpStatus(): number {
    return this.code === 'unreachable' ? 503 : 422;
  }
}
