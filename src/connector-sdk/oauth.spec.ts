import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { OauthCrmSandbox } from '../../test/support/oauth-crm-sandbox';
import type { OAuth2Auth, TokenSet } from './auth';
import { isConnectorError } from './errors';
import { buildHttpClient } from './http';
import { MemoryTokenVault, OAuthSession, tokenSender } from './oauth';

interface Cfg {
  url: string;
}

describe('OAuthSession against an OAuth 2 server with single-use refresh tokens', () => {
  const crm = new OauthCrmSandbox();
  const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent() };
  let now = new Date('2026-12-01T10:00:00Z');
  const scheme: OAuth2Auth<Cfg, { clientSecret: string; longLivedToken?: string }> = {
    type: 'oauth2',
    tokenRequest: ({ config, credentials, grant }) => ({
      method: 'POST',
      url: `${config.url}/oauth2/access_token`,
      params:
        grant.type === 'refresh_token'
          ? {
              client_id: crm.clientId,
              client_secret: credentials.clientSecret,
              grant_type: 'refresh_token',
              refresh_token: grant.refreshToken,
            }
          : {
              client_id: crm.clientId,
              client_secret: credentials.clientSecret,
              grant_type: 'authorization_code',
              code: grant.code,
            },
    }),
    staticToken: (c) => c.longLivedToken,
  };

  beforeAll(() => crm.start());
  afterAll(async () => {
    agents.http.destroy();
    await crm.stop();
  });

  function session(
    vault: MemoryTokenVault,
    credentials: { clientSecret: string; longLivedToken?: string } = {
      clientSecret: crm.clientSecret,
    },
  ) {
    return new OAuthSession({
      scheme,
      config: { url: crm.url },
      credentials,
      vault,
      send: tokenSender(buildHttpClient({ baseURL: '', agents })),
      redirectUri: 'https://hub.example.test/v1/crm/x/oauth',
      now: () => now,
    });
  }

  async function connectedVault(): Promise<MemoryTokenVault> {
    const vault = new MemoryTokenVault();
    await session(vault).exchange(crm.consent(), {});
    return vault;
  }

  it('exchanges a code once and keeps the tokens with their expiry', async () => {
    const vault = new MemoryTokenVault();
    const tokens = await session(vault).exchange(crm.consent(), {});
    expect(tokens).toEqual({
      accessToken: expect.stringMatching(/^at-/),
      refreshToken: expect.stringMatching(/^rt-/),
      expiresAt: new Date(now.getTime() + 86400_000).toISOString(),
    });
    expect(await vault.read()).toEqual(tokens);
  });

  it('refreshes ahead of expiry, once for concurrent requests', async () => {
    const vault = await connectedVault();
    const first = (await vault.read()) as TokenSet;
    const s = session(vault);
    expect(await s.accessToken()).toBe(first.accessToken);
    const refreshes = crm.grants.refresh_token;
    now = new Date(Date.parse(first.expiresAt!) - 30_000);
    crm.tokenLatencyMs = 100;
    try {
      const tokens = await Promise.all([s.accessToken(), s.accessToken(), s.accessToken()]);
      expect(new Set(tokens).size).toBe(1);
      expect(tokens[0]).not.toBe(first.accessToken);
    } finally {
      crm.tokenLatencyMs = 0;
      now = new Date('2026-12-01T10:00:00Z');
    }
    expect(crm.grants.refresh_token).toBe(refreshes + 1);
    expect(vault.writes).toHaveLength(2);
  });

  it('does not refresh again when another request already replaced the refused token', async () => {
    const vault = await connectedVault();
    const stale = ((await vault.read()) as TokenSet).accessToken;
    const a = session(vault);
    const b = session(vault);
    const refreshes = crm.grants.refresh_token;
    const renewed = await a.renew(stale);
    expect(renewed.accessToken).not.toBe(stale);
    expect((await b.renew(stale)).accessToken).toBe(renewed.accessToken);
    expect(crm.grants.refresh_token).toBe(refreshes + 1);
    expect(crm.reusedRefreshTokens).toBe(0);
  });

  it('reads a refused refresh token as auth_invalid naming the refresh token', async () => {
    const vault = await connectedVault();
    crm.revoke();
    const err = await session(vault)
      .renew(((await vault.read()) as TokenSet).accessToken)
      .catch((e: unknown) => e);
    expect(isConnectorError(err) && err.code).toBe('auth_invalid');
    expect(isConnectorError(err) && err.details.field).toBe('refreshToken');
  });

  it('reads an unreachable token endpoint as temporary, not as a revoked grant', async () => {
    const vault = await connectedVault();
    crm.failNext(1, { status: 502 });
    const err = await session(vault)
      .renew(((await vault.read()) as TokenSet).accessToken)
      .catch((e: unknown) => e);
    expect(isConnectorError(err) && err.code).toBe('temporary');
  });

  it('uses a long-lived token as it is and never refreshes it', async () => {
    const vault = new MemoryTokenVault();
    const s = session(vault, { clientSecret: crm.clientSecret, longLivedToken: 'llt-1' });
    expect(await s.accessToken()).toBe('llt-1');
    const err = await s.renew('llt-1').catch((e: unknown) => e);
    expect(isConnectorError(err) && err.code).toBe('auth_invalid');
    expect(vault.writes).toHaveLength(0);
  });
});
