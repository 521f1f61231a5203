/**
 * Everything a connector may import from the hub. Connectors see this folder only; npm
 * plugins import it as `telephony-crm-hub/connector-sdk`.
 */
export * from './auth';
export * from './capabilities';
export * from './context';
export * from './definition';
export * from './errors';
export * from './fields';
export * from './http';
export * from './http-errors';
export * from './oauth';
export * from './phone';
export * from './types';
