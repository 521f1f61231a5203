import type { AxiosInstance } from 'axios';

export const CAPABILITIES = [
  'contactLookup',
  'responsibleAgent',
  'screenPop',
  'callLog',
  'recording',
  'leadCreate',
  'clickToCall',
  'install',
] as const;
export type Capability = (typeof CAPABILITIES)[number];

/** The method a connector implements for each capability it declares. */
export const CAPABILITY_METHODS: Record<Capability, keyof CrmConnector> = {
  contactLookup: 'findContact',
  responsibleAgent: 'findResponsible',
  screenPop: 'showCall',
  callLog: 'logCalls',
  recording: 'attachRecording',
  leadCreate: 'createLead',
  clickToCall: 'handleCallback',
  install: 'install',
};

/**
 * A CRM's published request limit. Requests whose path starts with `pathPrefix`
 * count against this bucket; the bucket without a prefix takes the rest.
 */
export interface RateLimitBucket {
  name: string;
  requestsPerSecond: number;
  pathPrefix?: string;
}

export type Schema<T> = new () => T;

export interface ConnectorDefinition<
  TConfig extends object = object,
  TCredentials extends object = object,
> {
  /** Equal to the connector's folder name. */
  id: string;
  displayName: string;
  version: string;
  capabilities: readonly Capability[];
  configSchema: Schema<TConfig>;
  credentialsSchema: Schema<TCredentials>;
  rateLimits: readonly RateLimitBucket[];
  create(ctx: ConnectorContext<TConfig, TCredentials>): CrmConnector;
}

export interface ConnectorLogger {
  debug(msg: string, data?: Record<string, unknown>): void;
  info(msg: string, data?: Record<string, unknown>): void;
  warn(msg: string, data?: Record<string, unknown>): void;
  error(msg: string, data?: Record<string, unknown>): void;
}

export interface HttpClientOptions {
  baseURL: string;
  /** Per-request timeout; default 10 s, capped at 30 s. */
  timeoutMs?: number;
  headers?: Record<string, string>;
}

/** Per-call memory of a connector (e.g. a CRM's own call id from `register`), kept by the hub. */
export interface CallStateStore {
  get<T = unknown>(callId: string, key: string): Promise<T | undefined>;
  set(callId: string, key: string, value: unknown): Promise<void>;
}

export interface ConnectorContext<
  TConfig extends object = object,
  TCredentials extends object = object,
> {
  integrationId: string;
  tenantId: string;
  config: TConfig;
  credentials: TCredentials;
  /**
   * An axios instance bound to the integration's rate-limit buckets, with timeouts
   * and keep-alive. Create one per base URL.
   */
  http(options: HttpClientOptions): AxiosInstance;
  logger: ConnectorLogger;
  clock: { now(): Date };
  /** Persists rotated credentials (refreshed OAuth tokens, a generated client id). */
  saveCredentials(next: TCredentials): Promise<void>;
  callState: CallStateStore;
  /** Absolute URL of the hub's CRM callback route for this integration, e.g. "make-call". */
  callbackUrl(action: string): string;
  /** The hub's public base URL. */
  publicUrl: string;
}

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
}

export type CallDirection = 'inbound' | 'outbound' | 'internal';
export type CallResult = 'answered' | 'missed' | 'busy' | 'failed' | 'cancelled';

/** A call as the hub hands it to connectors. Phone numbers are E.164 ("+74951234567"). */
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
}

export interface PopTarget {
  extensions: string[];
  /** CRM user ids of those extensions where the agent map knows them. */
  crmUserIds: string[];
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
  originate?: { extension: string; to: string };
}

/** One optional method per capability; the core calls only what the definition declares. */
export interface CrmConnector {
  /** Live check of the credentials; throws ConnectorError('auth_invalid') naming the bad credential. */
  verifyCredentials(): Promise<void>;
  findContact?(phone: string): Promise<ContactMatch | null>;
  findResponsible?(phone: string): Promise<ResponsibleUser | null>;
  showCall?(call: CallInfo, target: PopTarget): Promise<void>;
  /** Closes a shown card; optional even for screenPop connectors. */
  hideCall?(call: CallInfo, target: PopTarget): Promise<void>;
  /** Logs finished calls (the core may batch). Returns one outcome per call. */
  logCalls?(calls: CallInfo[]): Promise<LogOutcome[]>;
  /** Adds a recording to an already-logged call. */
  attachRecording?(call: CallInfo): Promise<void>;
  createLead?(call: CallInfo, contact: ContactMatch | null): Promise<LeadOutcome>;
  handleCallback?(request: CallbackRequest): Promise<CallbackResult>;
  /** Registers the hub in the CRM; called on creation and whenever the agent map changes. */
  install?(agents: AgentMapping[]): Promise<void>;
}
