import { getMetadataStorage } from 'class-validator';

/** A config or credential field as shown in GET /v1/connectors and the admin UI. */
export interface FieldDescription {
  name: string;
  description: string;
  required: boolean;
  secret: boolean;
  example?: string | number | boolean;
  enum?: readonly string[];
}

type FieldMeta = WeakMap<object, Map<string, Omit<FieldDescription, 'name' | 'required'>>>;

/**
 * Kept on the global object, so a plugin that loads its own copy of the SDK (an npm package
 * next to the hub) describes its fields where the hub's copy reads them.
 */
const META_KEY = Symbol.for('telephony-crm-hub.connector-sdk.fields');
const FIELD_META: FieldMeta = ((globalThis as Record<symbol, unknown>)[META_KEY] ??=
  new WeakMap()) as FieldMeta;

/** Describes a schema field for the connector manifest. */
export function Field(options: {
  description: string;
  secret?: boolean;
  example?: string | number | boolean;
  enum?: readonly string[];
}): PropertyDecorator {
  return (target, property) => {
    const map = FIELD_META.get(target.constructor) ?? new Map();
    map.set(String(property), { secret: false, ...options });
    FIELD_META.set(target.constructor, map);
  };
}

/** The manifest description of every @Field of a schema class, with required-ness from class-validator. */
export function describeFields(schema: new () => object): FieldDescription[] {
  const described = FIELD_META.get(schema) ?? new Map();
  const validations = getMetadataStorage().getTargetValidationMetadatas(schema, '', true, false);
  const optional = new Set(
    validations.filter((v) => v.type === 'conditionalValidation').map((v) => v.propertyName),
  );
  return [...described.entries()].map(([name, meta]) => ({
    name,
    required: !optional.has(name),
    ...meta,
  }));
}
