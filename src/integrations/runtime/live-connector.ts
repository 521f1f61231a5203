import type {
  AnyConnectorDefinition,
  BaseConnector,
  Capability,
  CapabilityMethods,
  ContactMatch,
  OAuthSession,
} from '../../connector-sdk';
import type { Integration } from '../integration.entity';

/** A capability the core tried to use that the connector does not declare: a core bug. */
export class CapabilityMissing extends Error {
  constructor(connector: string, capability: Capability) {
    super(`connector ${connector} does not declare ${capability}`);
  }
}

/**
 * A connector instance for one integration. The core reaches a capability's methods only
 * through `use(capability)`, which answers for declared capabilities alone: no probing for
 * optional methods, no `!`.
 */
export class LiveConnector {
  constructor(
    readonly definition: AnyConnectorDefinition,
    readonly integration: Integration,
    private readonly connector: BaseConnector,
    /** The OAuth grant in use, for connectors that sign in with OAuth 2. */
    readonly session: OAuthSession<object, object> | null,
  ) {}

  supports(capability: Capability): boolean {
    return this.definition.capabilities.includes(capability);
  }

  use<K extends Capability>(capability: K): CapabilityMethods[K] {
    if (!this.supports(capability)) throw new CapabilityMissing(this.definition.id, capability);
    // The registry and the conformance suite check that declared capabilities are implemented.
    return this.connector as unknown as CapabilityMethods[K];
  }

  verifyCredentials(): Promise<void> {
    return this.connector.verifyCredentials();
  }

  /** Whether the connector can say who a caller is (and who is responsible for them). */
  get canLookUp(): boolean {
    return this.supports('contactLookup') || this.supports('responsibleAgent');
  }

  /** The caller's contact through whichever lookup the connector has; null when it has none. */
  async lookupContact(phone: string): Promise<ContactMatch | null> {
    if (this.supports('contactLookup')) return this.use('contactLookup').findContact({ phone });
    if (this.supports('responsibleAgent')) {
      const responsible = await this.use('responsibleAgent').findResponsible({ phone });
      return responsible ? { id: `responsible:${responsible.crmUserId}`, responsible } : null;
    }
    return null;
  }

  /** The most calls one logCalls request may carry. */
  get logBatch(): number {
    return this.definition.limits?.logBatch ?? 1;
  }
}
