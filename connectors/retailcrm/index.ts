import { defineConnector } from '../../src/connector-sdk';
import { RetailcrmConnector, UPLOAD_CHUNK } from './retailcrm.connector';
import { RetailcrmConfig, RetailcrmCredentials } from './retailcrm.schema';

export const retailcrmConnector = defineConnector({
  id: 'retailcrm',
  displayName: 'RetailCRM',
  version: '2.0.0',
  // No 'recording': RetailCRM takes the recording URL inside the history upload only,
  // so the hub holds the log until the recording is known.
  capabilities: [
    'contactLookup',
    'responsibleAgent',
    'screenPop',
    'callLog',
    'leadCreate',
    'clickToCall',
    'install',
    'users',
  ],
  configSchema: RetailcrmConfig,
  credentialsSchema: RetailcrmCredentials,
  auth: { type: 'apiKey', credential: 'apiKey', header: 'X-API-KEY' },
  rateLimits: [
    { name: 'default', requestsPerSecond: 10 },
    { name: 'telephony', requestsPerSecond: 40, pathPrefix: '/telephony' },
  ],
  limits: { logBatch: UPLOAD_CHUNK },
  create: (ctx) => new RetailcrmConnector(ctx),
});

export default retailcrmConnector;
