import { Inject, Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { Clock } from '../common/clock';
import { RedisService } from '../common/redis.service';
import { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';

const FAILURE_WINDOW_MS = 60_000;
const ANONYMOUS_WINDOW_MS = 60_000;
const TENANT_WINDOW_MS = 1000;
/** How often an instance adds its tenants' counts to the shared ones and reads them back. */
const TENANT_SYNC_MS = 200;
/** Addresses remembered as blocked at most (a flood of addresses must not grow memory). */
const MAX_BLOCKED = 100_000;

/**
 * Request limits shared by every instance through Redis:
 * - failed authentication (401/403) per source address: past the limit in a minute, the
 *   address is refused (429) until the minute is over, on every instance it reaches;
 * - requests without credentials per source address (recording links, CRM callbacks);
 * - authenticated requests per tenant and second. These are counted locally and added to
 *   the shared count every 200 ms, so the hot ingest path never waits for Redis.
 * When Redis is unreachable the limits fail open: availability over throttling.
 */
@Injectable()
export class RequestLimiter implements OnModuleDestroy {
  private readonly logger = new Logger('RequestLimiter');
  private readonly blocked = new Map<string, number>();
  private readonly tenantLocal = new Map<string, number>();
  /** Counts on their way to Redis: still counted here until the shared total comes back. */
  private readonly tenantSending = new Map<string, number>();
  private readonly tenantShared = new Map<string, number>();
  private readonly tenantReads = new Map<string, Promise<void>>();
  private tenantWindow = -1;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly redis: RedisService,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.timer = setInterval(() => void this.flush(), TENANT_SYNC_MS);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.timer);
  }

  /** How long the address is refused for, in ms; 0 when it is not. */
  blockedFor(address: string): number {
    const until = this.blocked.get(address);
    if (until === undefined) return 0;
    const left = until - this.clock.nowMs();
    if (left > 0) return left;
    this.blocked.delete(address);
    return 0;
  }

  /** Counts a failed authentication of the address (shared). */
  async authFailed(address: string): Promise<void> {
    const { count, leftMs } = await this.count('authfail', address, FAILURE_WINDOW_MS);
    if (count > this.config.authFailuresPerMin) this.block(address, leftMs);
  }

  /** Counts a request without credentials; returns how long to refuse it for (0: serve it). */
  async anonymous(address: string): Promise<number> {
    const { count, leftMs } = await this.count('anon', address, ANONYMOUS_WINDOW_MS);
    if (count <= this.config.anonymousRequestsPerMin) return 0;
    this.block(address, leftMs);
    return leftMs;
  }

  /**
   * Takes one of the tenant's requests this second; returns how long to refuse it for (0:
   * serve it). The first request of a second on this instance reads the shared count once.
   */
  async tenant(tenantId: string): Promise<number> {
    const now = this.clock.nowMs();
    const window = Math.floor(now / TENANT_WINDOW_MS);
    if (window !== this.tenantWindow) {
      this.tenantWindow = window;
      this.tenantLocal.clear();
      this.tenantSending.clear();
      this.tenantShared.clear();
      this.tenantReads.clear();
    }
    if (!this.tenantShared.has(tenantId)) await this.readShared(tenantId, window);
    if (window !== this.tenantWindow) return 0;
    const local = (this.tenantLocal.get(tenantId) ?? 0) + 1;
    const total =
      local + (this.tenantSending.get(tenantId) ?? 0) + (this.tenantShared.get(tenantId) ?? 0);
    if (total > this.config.tenantRequestsPerS) return (window + 1) * TENANT_WINDOW_MS - now;
    this.tenantLocal.set(tenantId, local);
    return 0;
  }

  private readShared(tenantId: string, window: number): Promise<void> {
    let read = this.tenantReads.get(tenantId);
    if (!read) {
      const key = this.redis.key('limit', 'tenant', tenantId, String(window));
      read = this.redis.client
        .get(key)
        .then((v) => {
          if (window === this.tenantWindow && !this.tenantShared.has(tenantId))
            this.tenantShared.set(tenantId, Number(v ?? 0));
        })
        .catch(() => {
          // Fail open: counted locally until the next sync.
          if (window === this.tenantWindow) this.tenantShared.set(tenantId, 0);
        });
      this.tenantReads.set(tenantId, read);
    }
    return read;
  }

  private block(address: string, forMs: number): void {
    if (this.blocked.size >= MAX_BLOCKED) this.blocked.clear();
    this.blocked.set(address, this.clock.nowMs() + forMs);
  }

  /** A window that starts with the address's first request (no boundary to time a burst on). */
  private async count(
    kind: string,
    address: string,
    windowMs: number,
  ): Promise<{ count: number; leftMs: number }> {
    const key = this.redis.key('limit', kind, address);
    try {
      const results = (await this.redis.client
        .multi()
        .set(key, '0', 'PX', windowMs, 'NX')
        .incr(key)
        .pttl(key)
        .exec()) as [Error | null, unknown][];
      const leftMs = Number(results[2][1]);
      return { count: Number(results[1][1]), leftMs: leftMs > 0 ? leftMs : windowMs };
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'request limits unavailable (Redis)');
      return { count: 0, leftMs: 0 };
    }
  }

  /**
   * Adds this instance's counts to the shared ones; what comes back is everybody's. Runs every
   * 200 ms; one at a time, and what is on its way still counts here.
   */
  async flush(): Promise<void> {
    if (this.tenantLocal.size === 0 || this.tenantSending.size > 0) return;
    const window = this.tenantWindow;
    const entries = [...this.tenantLocal.entries()];
    this.tenantLocal.clear();
    for (const [tenantId, n] of entries) this.tenantSending.set(tenantId, n);
    const pipeline = this.redis.client.pipeline();
    for (const [tenantId, n] of entries) {
      const key = this.redis.key('limit', 'tenant', tenantId, String(window));
      pipeline.incrby(key, n).pexpire(key, TENANT_WINDOW_MS * 3);
    }
    try {
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([err]) => err);
      if (failed) throw failed[0] as Error;
      if (window !== this.tenantWindow) return;
      this.tenantSending.clear();
      entries.forEach(([tenantId], i) => {
        const total = Number(results[i * 2]?.[1] ?? 0);
        this.tenantShared.set(tenantId, Math.max(total, this.tenantShared.get(tenantId) ?? 0));
      });
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'request limits unavailable (Redis)');
      if (window !== this.tenantWindow) return;
      // Not added to the shared count: counted locally again, sent with the next sync.
      this.tenantSending.clear();
      for (const [tenantId, n] of entries) {
        this.tenantLocal.set(tenantId, (this.tenantLocal.get(tenantId) ?? 0) + n);
      }
    }
  }
}
