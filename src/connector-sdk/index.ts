/**
 * Everything a connector may import from the hub. Connectors see this folder only.
 */
export * from './errors';
export * from './fields';
export * from './phone';
export * from './types';
