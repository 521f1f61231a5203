import { join } from 'node:path';
import type { TestApp } from './test-app';

/** HUB_CONNECTOR_PLUGINS for test/fixtures/plugin-connector (connector `plugin-crm`). */
export const PLUGIN_CONNECTOR = join(__dirname, '..', 'fixtures', 'plugin-connector');

/** Connects the tenant to the plugin CRM (its good token); returns the integration id. */
export async function connectPluginCrm(
  t: Pick<TestApp, 'request'>,
  tenantId: string,
  headers?: Record<string, string>,
): Promise<string> {
  const res = await t.request('POST', `/v1/tenants/${tenantId}/integrations`, {
    body: {
      connector: 'plugin-crm',
      config: { url: 'http://crm.local' },
      credentials: { token: 'good-token' },
    },
    headers,
  });
  if (res.status !== 201) throw new Error(`integration not created: ${res.status} ${res.text}`);
  return (res.body as { id: string }).id;
}
