/**
 * How a connector signs in. The connector declares its scheme; the core applies it to every
 * request, refreshes OAuth tokens single-flight across hub instances and persists rotated
 * tokens. A connector never refreshes a token itself (n8n's credential types).
 */
export type AuthScheme<TConfig = object, TCredentials = object> =
  { type: 'none' } | ApiKeyAuth | OAuth2Auth<TConfig, TCredentials>;

/** A static key from the credentials, sent on every request. */
export interface ApiKeyAuth {
  type: 'apiKey';
  /** The credential field that holds the key (the registry checks the schema has it). */
  credential: string;
  /** Header to send it in (e.g. "X-API-KEY"); `query` sends it as a query parameter instead. */
  header?: string;
  query?: string;
}

export type OAuthGrant =
  | {
      type: 'authorization_code';
      code: string;
      /** Every query parameter of the redirect (e.g. amoCRM's `referer`). */
      params: Record<string, string>;
    }
  | { type: 'refresh_token'; refreshToken: string };

/** A token endpoint request; the core sends it through the integration's rate limits. */
export interface TokenRequest {
  method: 'GET' | 'POST';
  url: string;
  /** POST body encoding (default json); GET sends `params` as the query. */
  encoding?: 'json' | 'form';
  /** Undefined values are left out. */
  params: Record<string, string | undefined>;
}

/** What the hub keeps of a grant. `extra` holds what else the token endpoint said (an API endpoint). */
export interface TokenSet {
  accessToken: string;
  refreshToken?: string;
  /** ISO 8601; absent when the token does not expire. */
  expiresAt?: string;
  extra?: Record<string, string>;
}

export interface OAuth2Auth<TConfig = object, TCredentials = object> {
  type: 'oauth2';
  /** Where an admin grants access; the integration shows it as `authorizeUrl` while it needs auth. */
  authorizeUrl?(input: {
    config: TConfig;
    credentials: TCredentials;
    state: string;
    redirectUri: string;
  }): string;
  /** The token endpoint request for a grant. */
  tokenRequest(input: {
    config: TConfig;
    credentials: TCredentials;
    grant: OAuthGrant;
    redirectUri: string;
    /** What the grant keeps besides the tokens (`keepFromRedirect`, earlier token replies). */
    extra: Record<string, string>;
  }): TokenRequest;
  /**
   * What to keep of the OAuth redirect's parameters with the tokens (amoCRM's `referer`, the
   * account's host); throw ConnectorError('rejected') to refuse a redirect that is not valid.
   */
  keepFromRedirect?(params: Record<string, string>, config: TConfig): Record<string, string>;
  /** Reads the token endpoint's reply (default: RFC 6749 `access_token`, `refresh_token`, `expires_in`). */
  parseTokens?(body: unknown, now: Date): TokenSet;
  /** Where the access token goes: a bearer header (default) or a query parameter (Bitrix24's `auth`). */
  placement?: { type: 'bearer' } | { type: 'query'; name: string };
  /** A token the credentials carry that needs no OAuth (amoCRM's long-lived token). */
  staticToken?(credentials: TCredentials): string | undefined;
}

/** Refresh this long before a token expires, so requests do not race its expiry. */
export const REFRESH_MARGIN_MS = 60_000;

/** The standard token endpoint reply (RFC 6749 §5.1). */
export function parseStandardTokens(body: unknown, now: Date): TokenSet {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  if (typeof b.access_token !== 'string' || b.access_token === '') {
    throw new Error('the token endpoint answered without an access_token');
  }
  const out: TokenSet = { accessToken: b.access_token };
  if (typeof b.refresh_token === 'string' && b.refresh_token) out.refreshToken = b.refresh_token;
  const expiresIn = Number(b.expires_in);
  if (Number.isFinite(expiresIn) && expiresIn > 0) {
    out.expiresAt = new Date(now.getTime() + expiresIn * 1000).toISOString();
  }
  return out;
}

/** True when the token is gone or expires within the refresh margin. */
export function expiresSoon(tokens: TokenSet | null, nowMs: number): boolean {
  if (!tokens) return true;
  if (!tokens.expiresAt) return false;
  return Date.parse(tokens.expiresAt) - REFRESH_MARGIN_MS <= nowMs;
}
