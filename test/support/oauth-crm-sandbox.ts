import { randomBytes } from 'node:crypto';
import {
  SandboxReply,
  SandboxRequest,
  SandboxServer,
} from '../../src/connector-sdk/testing/sandbox';

const token = (prefix: string) => `${prefix}-${randomBytes(9).toString('base64url')}`;

/**
 * A CRM that signs in with OAuth 2 the way amoCRM does: an authorization code exchanged
 * once, short-lived access tokens, single-use refresh tokens (a spent one is refused and
 * revokes the grant), problem+json errors. It counts what it was sent.
 */
export class OauthCrmSandbox extends SandboxServer {
  readonly clientId = 'client-1';
  readonly clientSecret = 'client-secret-1';
  /** Codes an admin's consent produced, not yet exchanged. */
  private readonly codes = new Set<string>();
  private readonly access = new Set<string>();
  private readonly refresh = new Set<string>();
  private readonly spent = new Set<string>();
  readonly contacts = new Map<string, { id: string; name: string; owner: string }>();
  readonly leads: { id: number; phone: string; key: string }[] = [];
  /** Token endpoint requests by grant type. */
  readonly grants = { authorization_code: 0, refresh_token: 0 };
  /** Requests refused because they carried a spent refresh token. */
  reusedRefreshTokens = 0;
  /** Seconds each access token is said to live. */
  expiresIn = 86400;
  /** Delay of the token endpoint, so concurrent refreshes overlap. */
  tokenLatencyMs = 0;

  constructor() {
    super();
    this.route('POST', '/oauth2/access_token', (r) => this.tokenEndpoint(r))
      .route('GET', '/api/me', (r) => this.authed(r, () => ({ status: 200, body: { id: 1 } })))
      .route('GET', '/api/contacts', (r) =>
        this.authed(r, () => {
          const found = this.contacts.get(r.query.phone ?? '');
          return found ? { status: 200, body: found } : { status: 204 };
        }),
      )
      .route('POST', '/api/leads', (r) =>
        this.authed(r, () => {
          const body = r.json as { phone: string; key: string };
          const lead = { id: this.leads.length + 1, phone: body.phone, key: body.key };
          this.leads.push(lead);
          return { status: 201, body: { id: lead.id } };
        }),
      )
      .route('GET', '/api/leads', (r) =>
        this.authed(r, () => ({
          status: 200,
          body: this.leads.filter((l) => l.key === r.query.key),
        })),
      );
  }

  /** What an admin's click on "Allow" produces: a code for the hub's redirect. */
  consent(): string {
    const code = token('code');
    this.codes.add(code);
    return code;
  }

  /** Every access token stops working (they expired early); refresh tokens still do. */
  expireAccessTokens(): void {
    this.access.clear();
  }

  /** The admin revoked the grant: nothing issued so far works. */
  revoke(): void {
    this.access.clear();
    this.refresh.clear();
  }

  /** A long-lived token of a private integration. */
  issueLongLived(): string {
    const t = token('llt');
    this.access.add(t);
    return t;
  }

  protected override faultBody(status: number): unknown {
    return problem(status, 'injected fault');
  }

  private authed(req: SandboxRequest, ok: () => SandboxReply): SandboxReply {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization ?? '');
    if (!m || !this.access.has(m[1])) return problem(401, 'Unauthorized');
    return ok();
  }

  private async tokenEndpoint(req: SandboxRequest): Promise<SandboxReply> {
    if (this.tokenLatencyMs) await this.sleep(this.tokenLatencyMs);
    const p = (req.json ?? {}) as Record<string, string>;
    if (p.client_id !== this.clientId || p.client_secret !== this.clientSecret)
      return problem(401, 'Client authentication failed', 'invalid_client');
    if (p.grant_type === 'authorization_code') {
      this.grants.authorization_code++;
      if (!this.codes.delete(p.code))
        return problem(400, 'Authorization code has been revoked', 'invalid_grant');
      return this.issue();
    }
    if (p.grant_type === 'refresh_token') {
      this.grants.refresh_token++;
      if (this.spent.has(p.refresh_token)) {
        // A spent refresh token is a replay: the whole grant is revoked.
        this.reusedRefreshTokens++;
        this.revoke();
        return problem(401, 'Token has been revoked', 'invalid_grant');
      }
      if (!this.refresh.delete(p.refresh_token))
        return problem(401, 'Token has been revoked', 'invalid_grant');
      this.spent.add(p.refresh_token);
      return this.issue();
    }
    return problem(400, 'Unsupported grant type', 'unsupported_grant_type');
  }

  private issue(): SandboxReply {
    const access = token('at');
    const refresh = token('rt');
    this.access.add(access);
    this.refresh.add(refresh);
    return {
      status: 200,
      body: {
        token_type: 'Bearer',
        expires_in: this.expiresIn,
        access_token: access,
        refresh_token: refresh,
      },
    };
  }
}

function problem(status: number, detail: string, hint?: string): SandboxReply {
  return {
    status,
    headers: { 'content-type': 'application/problem+json' },
    body: { title: detail, type: `https://httpstatus.es/${status}`, status, detail, hint },
  };
}
