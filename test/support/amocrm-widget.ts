import type { AmocrmSandbox } from '../../connectors/amocrm/amocrm.sandbox';
import type { FakePbxHttp } from './fake-pbx-http';
import type { CreatedTenant, TestApp } from './test-app';

/** The widget tests' account: Ivan (5001) and Olga (5002), and Ivan's client Anna. */
export function seedWidgetAccount(amo: AmocrmSandbox, annasPhone: string): void {
  amo.addUser({ id: 5001, name: 'Ivan Petrov' });
  amo.addUser({ id: 5002, name: 'Olga Orlova' });
  amo.addContact({
    id: 7001,
    name: 'Anna Smirnova',
    phones: [annasPhone],
    responsibleUserId: 5001,
  });
}

/**
 * A tenant for the widget tests: an amoCRM integration (secret key and long-lived token; the
 * hub's own pops, logs and leads off, so only the widget acts), users 5001 and 5002 at
 * extensions 101 and 102, and a generic PBX that takes click-to-call. Returns the
 * integration id.
 */
export async function widgetTenant(
  t: TestApp,
  tenant: CreatedTenant,
  amo: AmocrmSandbox,
  pbx: FakePbxHttp,
): Promise<string> {
  const created = await t.request('POST', `/v1/tenants/${tenant.id}/integrations`, {
    body: {
      connector: 'amocrm',
      config: { baseDomain: amo.accountHost, clientId: amo.clientId, apiUrl: amo.url },
      credentials: { clientSecret: amo.clientSecret, longLivedToken: amo.issueLongLivedToken() },
      settings: { popOnRinging: false, logCalls: false, createLeadFor: 'none' },
    },
  });
  if (created.status !== 201) throw new Error(`integration: ${created.status} ${created.text}`);
  const integrationId = (created.body as { id: string }).id;
  const agents = await t.request('PUT', `/v1/tenants/${tenant.id}/agents`, {
    body: [
      { extension: '101', crmUsers: { [integrationId]: '5001' } },
      { extension: '102', crmUsers: { [integrationId]: '5002' } },
    ],
  });
  if (agents.status !== 200) throw new Error(`agents: ${agents.status} ${agents.text}`);
  const source = await t.request('POST', `/v1/tenants/${tenant.id}/pbx-sources`, {
    body: { type: 'generic', config: { originateUrl: `${pbx.url}/originate` } },
  });
  if (source.status !== 201) throw new Error(`pbx source: ${source.status} ${source.text}`);
  return integrationId;
}
