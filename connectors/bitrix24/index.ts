import { defineConnector, parseStandardTokens, RateLimitBucket } from '../../src/connector-sdk';
import { Bitrix24Connector, CALLS_PER_LOG } from './bitrix24.connector';
import { Bitrix24Config, Bitrix24Credentials, PUBLIC_OAUTH_URL } from './bitrix24.schema';

/**
 * The hub's bucket against the portal's: the same drain, a smaller burst, so a request
 * delayed on the way (the portal counts arrivals) still finds room.
 */
function buckets(requestsPerSecond: number, burst: number): RateLimitBucket[] {
  return [
    {
      name: 'default',
      requestsPerSecond,
      burst: Math.max(1, burst - Math.max(2, Math.ceil(burst / 10))),
    },
  ];
}

function asText(v: unknown): string | undefined {
  return typeof v === 'string' && v ? v : typeof v === 'number' ? String(v) : undefined;
}

export const bitrix24Connector = defineConnector({
  id: 'bitrix24',
  displayName: 'Bitrix24',
  version: '1.0.0',
  capabilities: [
    'contactLookup',
    'responsibleAgent',
    'screenPop',
    'callLog',
    'recording',
    'leadCreate',
    'clickToCall',
    'install',
    'users',
  ],
  configSchema: Bitrix24Config,
  credentialsSchema: Bitrix24Credentials,
  // The grant arrives with the install event (handleCallback → grant); tokens live an hour
  // and are refreshed at the OAuth server, each refresh handing out a new refresh token.
  auth: {
    type: 'oauth2',
    placement: { type: 'query', name: 'auth' },
    tokenRequest: ({ config, credentials, grant }) => ({
      method: 'GET',
      url: `${(config.oauthUrl ?? PUBLIC_OAUTH_URL).replace(/\/+$/, '')}/oauth/token/`,
      params:
        grant.type === 'refresh_token'
          ? {
              grant_type: 'refresh_token',
              client_id: credentials.clientId,
              client_secret: credentials.clientSecret,
              refresh_token: grant.refreshToken,
            }
          : {
              grant_type: 'authorization_code',
              client_id: credentials.clientId,
              client_secret: credentials.clientSecret,
              code: grant.code,
            },
    }),
    parseTokens: (body, now) => {
      const tokens = parseStandardTokens(body, now);
      const b = body as Record<string, unknown>;
      const extra: Record<string, string> = {};
      const endpoint = asText(b.client_endpoint);
      if (endpoint) extra.clientEndpoint = endpoint.replace(/\/*$/, '/');
      const member = asText(b.member_id);
      if (member) extra.memberId = member;
      const user = asText(b.user_id);
      if (user) extra.userId = user;
      return Object.keys(extra).length ? { ...tokens, extra } : tokens;
    },
  },
  rateLimits: buckets(2, 50),
  rateLimitsFor: (config) => buckets(config.requestsPerSecond ?? 2, config.burst ?? 50),
  // The portal counts every application on one server together.
  rateLimitScope: (config) => new URL(config.portalUrl).host.toLowerCase(),
  // A finish waits up to 3 s for others to share its batch: requests are what is scarce.
  limits: { logBatch: CALLS_PER_LOG, logBatchWaitMs: 3000 },
  // CRM_CREATE: an unknown caller's lead is made when the call is registered.
  leadsAtRegistration: true,
  create: (ctx) => new Bitrix24Connector(ctx),
});

export default bitrix24Connector;
