/** The data the hub and connectors exchange. Phone numbers are E.164 ("+74951234567"). */
import type { TokenSet } from './auth';

/** A person (or company) in the CRM, with the user responsible for them. */
export interface ContactMatch {
  id: string;
  name?: string;
  /** Link to the card in the CRM UI, when known. */
  url?: string;
  responsible?: ResponsibleUser | null;
}

export interface ResponsibleUser {
  crmUserId: string;
  name?: string;
  /** The extension the CRM itself knows for this user, if any. */
  extension?: string;
  /** False when the CRM says the user is off shift now (Bitrix24: the workday is not open). */
  onShift?: boolean;
}

export type CallDirection = 'inbound' | 'outbound' | 'internal';
export type CallResult = 'answered' | 'missed' | 'busy' | 'failed' | 'cancelled';

/** A call as the hub hands it to connectors. */
export interface CallInfo {
  callId: string;
  direction: CallDirection;
  /** The outside party (caller of an inbound call, callee of an outbound one). */
  customerPhone: string | null;
  /** The company line: the number an inbound caller dialled. */
  line: string | null;
  /** The agent who has the call (answered or transferred to), if any. */
  extension: string | null;
  crmUserId: string | null;
  ringing: string[];
  status: 'started' | 'ringing' | 'answered' | 'ended';
  result: CallResult | null;
  startedAt: Date;
  answeredAt: Date | null;
  endedAt: Date | null;
  /** Talk time in seconds. */
  duration: number | null;
  /** A public, signed hub link to the recording, when there is one. */
  recordingUrl: string | null;
  /**
   * SDK v2, privacy mode: the client's code. Text of ours that agents read in the CRM names
   * the client by it (`clientLabel`); the number still goes where the CRM matches on it.
   */
  clientCode?: string;
}

export interface PopTarget {
  extensions: string[];
  /** CRM user ids of those extensions where the agent map knows them. */
  crmUserIds: string[];
  /** Each extension with its CRM user, where the agent map knows one. */
  agents?: { extension: string; crmUserId?: string }[];
}

/**
 * What every action on a call receives. `idempotencyKey` is the hub's call id plus the
 * action: the same for every retry of that action, so a CRM that takes an external id
 * (RetailCRM orders, amoCRM `uniq`) can refuse a second copy.
 */
export interface CallActionInput {
  call: CallInfo;
  idempotencyKey: string;
}

export interface PopInput extends CallActionInput {
  target: PopTarget;
}

export interface LogInput {
  /** At most the definition's `limits.logBatch` calls. */
  items: CallActionInput[];
}

export interface LeadInput extends CallActionInput {
  contact: ContactMatch | null;
}

export interface LookupInput {
  phone: string;
}

export interface InstallInput {
  agents: AgentMapping[];
}

export interface LogOutcome {
  callId: string;
  ok: boolean;
  externalId?: string;
  error?: string;
}

export interface LeadOutcome {
  externalId: string;
}

export interface AgentMapping {
  extension: string;
  name?: string;
  crmUserId: string;
}

/** A request the CRM made to the hub (e.g. RetailCRM's makeCallUrl). */
export interface CallbackRequest {
  action: string;
  method: string;
  query: Record<string, string>;
  body: Record<string, unknown>;
}

export interface CallbackResult {
  status: number;
  body: unknown;
  /** Ask the hub to originate a call through the tenant's PBX. */
  originate?: {
    /** The agent's extension; the agent map's extension of `crmUserId` comes first. */
    extension?: string;
    crmUserId?: string;
    to: string;
    /** Told when the PBX could not place the call (the CRM's own call record can be closed). */
    onFailure?(message: string): Promise<void>;
  };
  /**
   * The CRM handed the hub a grant itself (Bitrix24's install event), checked by the
   * connector: the hub stores it, connects the integration and runs its install.
   */
  grant?: TokenSet;
}

/** A token the CRM's widget sent the hub (amoCRM's disposable token), to check. */
export interface WidgetTokenInput {
  token: string;
  /** The hub's public origin, which the token must be addressed to. */
  audience: string;
}

/** The CRM user a valid widget token speaks for. */
export interface WidgetUser {
  crmUserId: string;
}

/** A user of the CRM, for the admin who maps extensions to CRM users. */
export interface CrmUser {
  crmUserId: string;
  name: string;
  email?: string;
  /** The extension the CRM itself keeps for the user, if it keeps one. */
  extension?: string;
  mobile?: string;
}
