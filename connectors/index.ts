import type { AnyConnectorDefinition } from '../src/connector-sdk';
import { amocrmConnector } from './amocrm';
import { bitrix24Connector } from './bitrix24';
import { retailcrmConnector } from './retailcrm';

/** Built-in connectors. A new CRM adds its folder and one line here. */
export const BUILTIN_CONNECTORS: AnyConnectorDefinition[] = [
  retailcrmConnector,
  amocrmConnector,
  bitrix24Connector,
];
