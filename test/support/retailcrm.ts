import type { RetailcrmSandbox } from '../../connectors/retailcrm/retailcrm.sandbox';
import { eventually, TestApp } from './test-app';

export interface ConnectOptions {
  settings?: Record<string, unknown>;
  /** extension → RetailCRM user id, put as the tenant's agent map. */
  agents?: Record<string, string>;
  headers?: Record<string, string>;
}

/**
 * Connects the tenant to the RetailCRM sandbox and waits until the hub registered its
 * telephony module there, so later faults hit call work only. Returns the integration id.
 */
export async function connectRetailcrm(
  hub: Pick<TestApp, 'request'>,
  tenantId: string,
  sandbox: RetailcrmSandbox,
  options: ConnectOptions = {},
): Promise<string> {
  const created = await hub.request('POST', `/v1/tenants/${tenantId}/integrations`, {
    body: {
      connector: 'retailcrm',
      config: { url: sandbox.url },
      credentials: { apiKey: sandbox.apiKey },
      ...(options.settings ? { settings: options.settings } : {}),
    },
    headers: options.headers,
  });
  if (created.status !== 201) {
    throw new Error(`integration not created: ${created.status} ${created.text}`);
  }
  const id = (created.body as { id: string }).id;
  if (options.agents) {
    const agents = await hub.request('PUT', `/v1/tenants/${tenantId}/agents`, {
      body: Object.entries(options.agents).map(([extension, user]) => ({
        extension,
        crmUsers: { [id]: user },
      })),
      headers: options.headers,
    });
    if (agents.status !== 200) throw new Error(`agents not put: ${agents.status} ${agents.text}`);
  }
  await eventually(
    async () => sandbox.modules.has('telephony-hub'),
    (v) => v,
    20000,
  );
  return id;
}

/** The usual cast: Ivan (user 27, extension 101) and his client Anna (+79161234567). */
export async function startWithIvanAndAnna(sandbox: RetailcrmSandbox): Promise<void> {
  await sandbox.start();
  sandbox.addUser({ id: 27, firstName: 'Ivan', code: '101' });
  sandbox.addCustomer({ id: 7, firstName: 'Anna', phones: ['+79161234567'], managerId: 27 });
}
