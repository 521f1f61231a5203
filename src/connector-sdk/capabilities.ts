import type {
  CallbackRequest,
  CallbackResult,
  CallActionInput,
  ContactMatch,
  CrmUser,
  InstallInput,
  LeadInput,
  LeadOutcome,
  LogInput,
  LogOutcome,
  LookupInput,
  PopInput,
  ResponsibleUser,
  WidgetTokenInput,
  WidgetUser,
} from './types';

export const CAPABILITIES = [
  'contactLookup',
  'responsibleAgent',
  'screenPop',
  'callLog',
  'recording',
  'leadCreate',
  'clickToCall',
  'install',
  'widget',
  'users',
] as const;
export type Capability = (typeof CAPABILITIES)[number];

/** What every connector does, whatever it declares. */
export interface BaseConnector {
  /** Live check of the credentials; throws ConnectorError('auth_invalid') naming the bad credential. */
  verifyCredentials(): Promise<void>;
}

/**
 * The methods each capability brings. A connector implements exactly the methods of the
 * capabilities it declares; the core calls a capability only when it is declared, through
 * this map, never by probing for methods.
 */
export interface CapabilityMethods {
  contactLookup: {
    /** The contact of a phone with its responsible user, or null when the CRM has none. */
    findContact(input: LookupInput): Promise<ContactMatch | null>;
  };
  responsibleAgent: {
    findResponsible(input: LookupInput): Promise<ResponsibleUser | null>;
  };
  screenPop: {
    showCall(input: PopInput): Promise<void>;
    /** Closes the shown card; a CRM that closes cards itself resolves without a request. */
    hideCall(input: PopInput): Promise<void>;
  };
  callLog: {
    /** Logs finished calls (the core batches up to `limits.logBatch`). One outcome per call. */
    logCalls(input: LogInput): Promise<LogOutcome[]>;
  };
  recording: {
    /** Adds a recording to an already-logged call. */
    attachRecording(input: CallActionInput): Promise<void>;
  };
  leadCreate: {
    createLead(input: LeadInput): Promise<LeadOutcome>;
    /**
     * Did an earlier attempt with this idempotency key already create the lead? The core asks
     * before creating again when an attempt's outcome is unknown (the hub stopped mid-request).
     */
    findLead(input: CallActionInput): Promise<LeadOutcome | null>;
  };
  clickToCall: {
    handleCallback(request: CallbackRequest): Promise<CallbackResult>;
  };
  install: {
    /** Registers the hub in the CRM; called on creation and whenever the agent map changes. */
    install(input: InstallInput): Promise<void>;
  };
  widget: {
    /**
     * Checks a token the CRM's widget sent (signature, audience, expiry) and says which CRM
     * user it speaks for; throws ConnectorError('auth_invalid') for any token it refuses.
     * The hub then serves that user's calls to the widget and places their click-to-call.
     */
    verifyWidgetToken(input: WidgetTokenInput): Promise<WidgetUser>;
  };
  users: {
    /** The CRM's active users (every page), so an admin maps extensions in one step. */
    listUsers(): Promise<CrmUser[]>;
  };
}

type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (
  x: infer I,
) => void
  ? I
  : never;

/** A connector that declares capabilities C: the base methods plus those of every C. */
export type Connector<C extends Capability> = BaseConnector &
  UnionToIntersection<CapabilityMethods[C]>;

/** The method names of each capability (for checks and manifests). */
export const CAPABILITY_METHODS: { [K in Capability]: readonly (keyof CapabilityMethods[K])[] } = {
  contactLookup: ['findContact'],
  responsibleAgent: ['findResponsible'],
  screenPop: ['showCall', 'hideCall'],
  callLog: ['logCalls'],
  recording: ['attachRecording'],
  leadCreate: ['createLead', 'findLead'],
  clickToCall: ['handleCallback'],
  install: ['install'],
  widget: ['verifyWidgetToken'],
  users: ['listUsers'],
};
