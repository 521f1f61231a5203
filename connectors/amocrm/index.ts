import { ConnectorError, defineConnector } from '../../src/connector-sdk';
import { AmocrmConnector, CALLS_PER_REQUEST } from './amocrm.connector';
import { ACCOUNT_HOST, AmocrmConfig, AmocrmCredentials } from './amocrm.schema';

/** The account host a token request goes to: the API override, or the account's own host. */
function tokenUrl(config: AmocrmConfig, host: string): string {
  return `${config.apiUrl ?? `https://${host}`}/oauth2/access_token`;
}

export const amocrmConnector = defineConnector({
  id: 'amocrm',
  displayName: 'amoCRM (Kommo)',
  version: '1.0.0',
  // No 'recording': amoCRM takes the recording link with the call log only, so the hub holds
  // the log until the recording is known.
  capabilities: [
    'contactLookup',
    'responsibleAgent',
    'screenPop',
    'callLog',
    'leadCreate',
    'widget',
    'users',
  ],
  configSchema: AmocrmConfig,
  credentialsSchema: AmocrmCredentials,
  auth: {
    type: 'oauth2',
    authorizeUrl: ({ config, state }) => {
      const www = /\.kommo\.com$/i.test(config.baseDomain) ? 'www.kommo.com' : 'www.amocrm.ru';
      return `https://${www}/oauth?${new URLSearchParams({ client_id: config.clientId, state, mode: 'post_message' })}`;
    },
    // The redirect names the account that granted access (`referer`): its host is where the
    // tokens and every API request go. Only an amoCRM or Kommo account host is taken.
    keepFromRedirect: (params, config) => {
      const referer = (params.referer ?? '').trim().toLowerCase();
      if (!referer) return { baseDomain: config.baseDomain.toLowerCase() };
      if (!ACCOUNT_HOST.test(referer)) {
        throw ConnectorError.rejected('referer: not an amoCRM or Kommo account host');
      }
      return { baseDomain: referer };
    },
    tokenRequest: ({ config, credentials, grant, redirectUri, extra }) => {
      const client = {
        client_id: config.clientId,
        client_secret: credentials.clientSecret ?? '',
        redirect_uri: redirectUri,
      };
      const params: Record<string, string> =
        grant.type === 'authorization_code'
          ? { ...client, grant_type: 'authorization_code', code: grant.code }
          : { ...client, grant_type: 'refresh_token', refresh_token: grant.refreshToken };
      return {
        method: 'POST',
        url: tokenUrl(config, extra.baseDomain ?? config.baseDomain),
        params,
      };
    },
    staticToken: (credentials) => credentials.longLivedToken,
  },
  // 7 requests a second per account, for everything the hub sends it, whatever integration.
  rateLimits: [{ name: 'default', requestsPerSecond: 7 }],
  rateLimitScope: (config) => (config.apiUrl ?? config.baseDomain).toLowerCase(),
  limits: { logBatch: CALLS_PER_REQUEST },
  create: (ctx) => new AmocrmConnector(ctx),
});

export default amocrmConnector;
