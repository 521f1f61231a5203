import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { Clock } from '../../common/clock';
import { RedisService } from '../../common/redis.service';
import { ConnectorError, TokenSet, TokenVault } from '../../connector-sdk';
import { IntegrationsRepository } from '../integrations.repository';
import { CredentialBox } from './credential-box';

/** Longer than any token request may take; a crashed holder's lock lapses after it. */
const LOCK_TTL_MS = 15_000;
const LOCK_WAIT_MS = 15_000;
/** How long this process trusts its copy before it reads the database again. */
const COPY_TTL_MS = 5_000;

const RELEASE_LUA = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

interface Copy {
  tokens: TokenSet | null;
  version: number;
  at: number;
}

/**
 * One integration's OAuth tokens: sealed in its database row, changed only under a Redis
 * lock every hub instance takes, and written over the version they were read at. Two
 * instances never refresh at once, so a single-use refresh token is never sent twice.
 */
class IntegrationTokenVault implements TokenVault {
  private copy: Copy | null = null;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly integrationId: string,
    private readonly deps: {
      repo: IntegrationsRepository;
      box: CredentialBox;
      redis: RedisService;
      clock: Clock;
    },
  ) {}

  async read(): Promise<TokenSet | null> {
    if (this.copy && this.deps.clock.nowMs() - this.copy.at < COPY_TTL_MS) return this.copy.tokens;
    return (await this.load()).tokens;
  }

  update(fn: (stored: TokenSet | null) => Promise<TokenSet>): Promise<TokenSet> {
    // One update at a time in this process; the Redis lock orders them across processes.
    const run = this.chain.then(() => this.locked(fn));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Forgets the in-process copy (after an admin reconnected the integration elsewhere). */
  forget(): void {
    this.copy = null;
  }

  private async locked(fn: (stored: TokenSet | null) => Promise<TokenSet>): Promise<TokenSet> {
    const key = this.deps.redis.key('oauth', this.integrationId, 'lock');
    const owner = randomBytes(12).toString('hex');
    await this.acquire(key, owner);
    try {
      const fresh = await this.load();
      const next = await fn(fresh.tokens);
      if (next === fresh.tokens) return next;
      const sealed = this.deps.box.sealTokens(this.integrationId, next);
      if (!(await this.deps.repo.writeTokens(this.integrationId, sealed, fresh.version))) {
        throw ConnectorError.temporary('the tokens changed while they were being refreshed');
      }
      this.copy = { tokens: next, version: fresh.version + 1, at: this.deps.clock.nowMs() };
      return next;
    } finally {
      await this.deps.redis.client.eval(RELEASE_LUA, 1, key, owner).catch(() => undefined);
    }
  }

  private async acquire(key: string, owner: string): Promise<void> {
    const deadline = this.deps.clock.nowMs() + LOCK_WAIT_MS;
    for (;;) {
      let got: string | null;
      try {
        got = await this.deps.redis.client.set(key, owner, 'PX', LOCK_TTL_MS, 'NX');
      } catch {
        throw ConnectorError.temporary('cannot take the token lock: Redis is unreachable');
      }
      if (got === 'OK') return;
      if (this.deps.clock.nowMs() > deadline) {
        throw ConnectorError.temporary('another hub instance holds the token lock');
      }
      await new Promise((r) => setTimeout(r, 25 + Math.floor(Math.random() * 25)));
    }
  }

  private async load(): Promise<Copy> {
    const row = await this.deps.repo.readTokens(this.integrationId);
    const tokens = row?.sealed ? this.deps.box.openTokens(this.integrationId, row.sealed) : null;
    this.copy = { tokens, version: row?.version ?? 0, at: this.deps.clock.nowMs() };
    return this.copy;
  }
}

/** The token vault of each integration, one per integration in this process. */
@Injectable()
export class TokenVaults {
  private readonly vaults = new Map<string, IntegrationTokenVault>();

  constructor(
    private readonly repo: IntegrationsRepository,
    private readonly box: CredentialBox,
    private readonly redis: RedisService,
    private readonly clock: Clock,
  ) {}

  for(integrationId: string): TokenVault & { forget(): void } {
    let vault = this.vaults.get(integrationId);
    if (!vault) {
      vault = new IntegrationTokenVault(integrationId, {
        repo: this.repo,
        box: this.box,
        redis: this.redis,
        clock: this.clock,
      });
      this.vaults.set(integrationId, vault);
    }
    return vault;
  }

  forget(integrationId: string): void {
    this.vaults.get(integrationId)?.forget();
  }
}
