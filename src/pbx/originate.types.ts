import type { PbxSource, PbxSourceType } from './pbx-source.entity';

export interface OriginateRequest {
  requestId: string;
  tenantId: string;
  /** The agent's extension, rung first. */
  extension: string;
  /** The number to call, E.164. */
  to: string;
}

/** One per PBX source type that can place calls (click-to-call). */
export interface PbxOriginator {
  readonly type: PbxSourceType;
  /** Asks the PBX to place the call; resolves once the PBX accepted the request. */
  originate(
    source: PbxSource,
    credentials: Record<string, unknown> | null,
    request: OriginateRequest,
  ): Promise<void>;
}

export const PBX_ORIGINATORS = Symbol('PBX_ORIGINATORS');

export class OriginateError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}
