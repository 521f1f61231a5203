import type { AxiosInstance } from 'axios';
import {
  expiresSoon,
  OAuth2Auth,
  OAuthGrant,
  parseStandardTokens,
  TokenRequest,
  TokenSet,
} from './auth';
import { ConnectorError, isConnectorError } from './errors';
import { classifyHttpFailure } from './http-errors';

/**
 * Where an integration's tokens live. The hub's vault keeps them encrypted in the database
 * behind a Redis lock shared by every instance; the test context keeps them in memory.
 */
export interface TokenVault {
  /** The stored tokens, or null before the integration was connected. */
  read(): Promise<TokenSet | null>;
  /**
   * Runs `update` while holding a lock every hub instance respects, with the freshest stored
   * tokens. What it returns is persisted, atomically, before the lock is released; returning
   * `stored` itself writes nothing.
   */
  update(fn: (stored: TokenSet | null) => Promise<TokenSet>): Promise<TokenSet>;
}

/** Sends a token endpoint request and returns the parsed JSON body (throws on a non-2xx). */
export type TokenSender = (request: TokenRequest) => Promise<unknown>;

/** An OAuth error reply's words (RFC 6749 §5.2: `error`, `error_description`), if any. */
function oauthErrorText(data: unknown): string | undefined {
  const b = (data && typeof data === 'object' ? data : {}) as Record<string, unknown>;
  const parts = [b.error, b.error_description].filter(
    (p): p is string => typeof p === 'string' && p !== '',
  );
  return parts.length ? parts.join(': ').slice(0, 300) : undefined;
}

/** Sends token requests with an HTTP client that carries no credentials of its own. */
export function tokenSender(http: AxiosInstance): TokenSender {
  return async (request) => {
    const params = Object.fromEntries(
      Object.entries(request.params).filter((e): e is [string, string] => e[1] !== undefined),
    );
    try {
      if (request.method === 'GET') {
        return (await http.get(request.url, { params })).data as unknown;
      }
      if (request.encoding === 'form') {
        const body = new URLSearchParams(params).toString();
        return (
          await http.post(request.url, body, {
            headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
          })
        ).data as unknown;
      }
      return (await http.post(request.url, params)).data as unknown;
    } catch (err) {
      throw classifyHttpFailure(err, 'token endpoint', {
        authField: 'refreshToken',
        detail: oauthErrorText,
      });
    }
  };
}

export interface OAuthSessionOptions<TConfig, TCredentials> {
  scheme: OAuth2Auth<TConfig, TCredentials>;
  config: TConfig;
  credentials: TCredentials;
  vault: TokenVault;
  send: TokenSender;
  redirectUri: string;
  now: () => Date;
}

/** The refused grant, as the core sees it: the integration needs an admin to connect it again. */
function refused(what: string, err: unknown): ConnectorError {
  const detail = isConnectorError(err) ? err.message : (err as Error)?.message;
  return ConnectorError.authInvalid(`${what}: ${detail ?? 'refused'}`, 'refreshToken');
}

/**
 * An OAuth 2 grant in use: a current access token for every request, one refresh at a time
 * (in this process through a shared promise, across instances through the vault's lock),
 * never a spent refresh token sent twice.
 */
export class OAuthSession<TConfig = object, TCredentials = object> {
  private renewing: Promise<TokenSet> | null = null;

  constructor(private readonly o: OAuthSessionOptions<TConfig, TCredentials>) {}

  /** A token for the next request; refreshed first when it is about to expire. */
  async accessToken(): Promise<string> {
    const fixed = this.o.scheme.staticToken?.(this.o.credentials);
    if (fixed) return fixed;
    const stored = await this.o.vault.read();
    if (!stored) {
      throw ConnectorError.authInvalid('the integration is not connected yet', 'accessToken');
    }
    if (!expiresSoon(stored, this.o.now().getTime())) return stored.accessToken;
    return (await this.renew(stored.accessToken)).accessToken;
  }

  /**
   * The CRM refused `rejected` (or it is about to expire): refresh, unless another request or
   * instance already replaced it, and return the tokens to use now.
   */
  renew(rejected: string): Promise<TokenSet> {
    if (this.o.scheme.staticToken?.(this.o.credentials)) {
      return Promise.reject(
        ConnectorError.authInvalid('the CRM refused the long-lived token', 'longLivedToken'),
      );
    }
    this.renewing ??= this.o.vault
      .update(async (stored) => {
        if (stored && stored.accessToken !== rejected && !expiresSoon(stored, this.nowMs())) {
          return stored;
        }
        if (!stored?.refreshToken) {
          throw ConnectorError.authInvalid('no refresh token is stored', 'refreshToken');
        }
        const next = await this.grant(
          { type: 'refresh_token', refreshToken: stored.refreshToken },
          stored.extra ?? {},
        );
        // A server that does not rotate refresh tokens keeps the old one valid.
        return {
          ...next,
          refreshToken: next.refreshToken ?? stored.refreshToken,
          extra: { ...stored.extra, ...next.extra },
        };
      })
      .finally(() => {
        this.renewing = null;
      });
    return this.renewing;
  }

  /** Exchanges an authorization code (once) and stores the tokens. */
  exchange(code: string, params: Record<string, string>): Promise<TokenSet> {
    return this.o.vault.update(() => this.grant({ type: 'authorization_code', code, params }, {}));
  }

  private nowMs(): number {
    return this.o.now().getTime();
  }

  private async grant(grant: OAuthGrant, extra: Record<string, string>): Promise<TokenSet> {
    const kept =
      grant.type === 'authorization_code'
        ? (this.o.scheme.keepFromRedirect?.(grant.params, this.o.config) ?? {})
        : extra;
    const request = this.o.scheme.tokenRequest({
      config: this.o.config,
      credentials: this.o.credentials,
      grant,
      redirectUri: this.o.redirectUri,
      extra: kept,
    });
    let body: unknown;
    try {
      body = await this.o.send(request);
    } catch (err) {
      // A throttled or unreachable token endpoint is worth retrying; a refusal is not.
      if (isConnectorError(err) && (err.code === 'rate_limited' || err.code === 'temporary')) {
        throw err;
      }
      throw refused(
        grant.type === 'refresh_token'
          ? 'the CRM refused the refresh token'
          : 'the CRM refused the authorization code',
        err,
      );
    }
    const parse = this.o.scheme.parseTokens ?? parseStandardTokens;
    try {
      const tokens = parse(body, this.o.now());
      return Object.keys(kept).length ? { ...tokens, extra: { ...kept, ...tokens.extra } } : tokens;
    } catch (err) {
      throw ConnectorError.temporary(
        `the token endpoint answered oddly: ${(err as Error).message}`,
      );
    }
  }
}

/** A vault in memory with an in-process lock: for tests and the SDK's test context. */
export class MemoryTokenVault implements TokenVault {
  private queue: Promise<unknown> = Promise.resolve();
  /** Every set written, in order. */
  readonly writes: TokenSet[] = [];

  constructor(private tokens: TokenSet | null = null) {}

  async read(): Promise<TokenSet | null> {
    return this.tokens;
  }

  update(fn: (stored: TokenSet | null) => Promise<TokenSet>): Promise<TokenSet> {
    const run = this.queue.then(async () => {
      const next = await fn(this.tokens);
      if (next !== this.tokens) {
        this.tokens = next;
        this.writes.push(next);
      }
      return next;
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}
