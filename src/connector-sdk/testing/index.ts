/**
 * The SDK's test kit: the shared conformance suite (run under Jest), a test context built
 * like the hub's, and the sandbox harness. Plugins import it as
 * `telephony-crm-hub/connector-sdk/testing`.
 */
export * from './conformance';
export * from './limiters';
export * from './sandbox';
export * from './test-context';
export * from './inputs';
