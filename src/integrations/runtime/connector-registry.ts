import { Inject, Injectable, Logger } from '@nestjs/common';
import { getMetadataStorage } from 'class-validator';
import { AppConfig } from '../../config/config';
import { APP_CONFIG } from '../../config/config.module';
import {
  AnyConnectorDefinition,
  CAPABILITIES,
  Capability,
  describeFields,
  FieldDescription,
} from '../../connector-sdk';
import { BUILTIN_CONNECTORS } from '../../../connectors';

export interface ConnectorManifest {
  id: string;
  displayName: string;
  version: string;
  capabilities: readonly Capability[];
  rateLimits: { name: string; requestsPerSecond: number; pathPrefix?: string; burst?: number }[];
  /** How the hub signs in for it: "apiKey", "oauth2" or "none". */
  auth: string;
  config: FieldDescription[];
  credentials: FieldDescription[];
}

/** Why a definition is unusable, or null when it is fine. */
export function definitionProblem(def: unknown): string | null {
  const d = def as Partial<AnyConnectorDefinition> | null;
  if (!d || typeof d !== 'object') return 'does not export a ConnectorDefinition';
  if (typeof d.id !== 'string' || !/^[a-z][a-z0-9-]{1,40}$/.test(d.id))
    return 'id must be lower-case letters, digits and "-"';
  if (typeof d.displayName !== 'string' || !d.displayName) return 'displayName is required';
  if (typeof d.version !== 'string' || !d.version) return 'version is required';
  if (!Array.isArray(d.capabilities) || d.capabilities.some((c) => !CAPABILITIES.includes(c))) {
    return `capabilities must be a subset of ${CAPABILITIES.join(', ')}`;
  }
  if (typeof d.configSchema !== 'function' || typeof d.credentialsSchema !== 'function') {
    return 'configSchema and credentialsSchema must be classes';
  }
  if (
    !Array.isArray(d.rateLimits) ||
    d.rateLimits.some(
      (b) =>
        !b ||
        typeof b.name !== 'string' ||
        !(b.requestsPerSecond > 0) ||
        (b.burst !== undefined && !(b.burst >= 1)),
    )
  ) {
    return 'rateLimits must list buckets with a name, requestsPerSecond > 0 and any burst >= 1';
  }
  const auth = d.auth as
    { type?: unknown; credential?: unknown; tokenRequest?: unknown } | undefined;
  if (!auth || !['none', 'apiKey', 'oauth2'].includes(auth.type as string)) {
    return 'auth must declare a scheme: {type: "none" | "apiKey" | "oauth2"} (SDK v2)';
  }
  if (auth.type === 'apiKey') {
    const fields = getMetadataStorage()
      .getTargetValidationMetadatas(d.credentialsSchema as new () => object, '', true, false)
      .map((v) => v.propertyName);
    if (typeof auth.credential !== 'string' || !fields.includes(auth.credential)) {
      return 'auth of type apiKey must name a field of its credentials schema';
    }
  }
  if (auth.type === 'oauth2' && typeof auth.tokenRequest !== 'function') {
    return 'auth of type oauth2 needs tokenRequest()';
  }
  const batch = d.limits?.logBatch;
  if (batch !== undefined && !(Number.isInteger(batch) && batch > 0)) {
    return 'limits.logBatch must be a positive whole number';
  }
  if (typeof d.create !== 'function') return 'create(ctx) is required';
  return null;
}

/** The connectors this hub can run: the built-ins plus npm packages named in HUB_CONNECTOR_PLUGINS. */
@Injectable()
export class ConnectorRegistry {
  private readonly logger = new Logger('ConnectorRegistry');
  private readonly defs = new Map<string, AnyConnectorDefinition>();

  constructor(@Inject(APP_CONFIG) config: AppConfig) {
    for (const def of BUILTIN_CONNECTORS) this.register(def, 'built-in');
    for (const name of config.connectorPlugins) {
      let mod: Record<string, unknown>;
      try {
        // eslint-disable-next-line @typescript-eslint/no-require-imports
        mod = require(name) as Record<string, unknown>;
      } catch (err) {
        throw new Error(`HUB_CONNECTOR_PLUGINS: cannot load "${name}": ${(err as Error).message}`);
      }
      const def = (mod.default ?? mod.connector ?? mod) as AnyConnectorDefinition;
      this.register(def, `plugin "${name}"`);
    }
  }

  private register(def: AnyConnectorDefinition, origin: string): void {
    const problem = definitionProblem(def);
    if (problem) throw new Error(`connector from ${origin}: ${problem}`);
    if (this.defs.has(def.id))
      throw new Error(`connector id "${def.id}" from ${origin} is already registered`);
    this.defs.set(def.id, def);
    this.logger.log(`connector ${def.id} ${def.version} (${origin})`);
  }

  get(id: string): AnyConnectorDefinition | undefined {
    return this.defs.get(id);
  }

  ids(): string[] {
    return [...this.defs.keys()];
  }

  has(id: string, capability: Capability): boolean {
    return this.defs.get(id)?.capabilities.includes(capability) ?? false;
  }

  manifests(): ConnectorManifest[] {
    return [...this.defs.values()].map((d) => ({
      id: d.id,
      displayName: d.displayName,
      version: d.version,
      capabilities: d.capabilities,
      rateLimits: d.rateLimits.map((b) => ({ ...b })),
      auth: d.auth.type,
      config: describeFields(d.configSchema),
      credentials: describeFields(d.credentialsSchema),
    }));
  }
}
