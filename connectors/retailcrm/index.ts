import type { ConnectorDefinition } from '../../src/connector-sdk';
import { RetailcrmConnector } from './retailcrm.connector';
import { RetailcrmConfig, RetailcrmCredentials } from './retailcrm.schema';

export const retailcrmConnector: ConnectorDefinition<RetailcrmConfig, RetailcrmCredentials> = {
  id: 'retailcrm',
  displayName: 'RetailCRM',
  version: '1.0.0',
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
  ],
  configSchema: RetailcrmConfig,
  credentialsSchema: RetailcrmCredentials,
  rateLimits: [
    { name: 'default', requestsPerSecond: 10 },
    { name: 'telephony', requestsPerSecond: 40, pathPrefix: '/telephony' },
  ],
  create: (ctx) => new RetailcrmConnector(ctx),
};

export default retailcrmConnector;
