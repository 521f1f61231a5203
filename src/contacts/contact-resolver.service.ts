import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../common/clock';
import { RedisService } from '../common/redis.service';
import type { ContactMatch } from '../connector-sdk';

/** Asks the CRM itself (the integration's connector) for the contact of a phone. */
export type ContactLookup = (phone: string) => Promise<ContactMatch | null>;

/** Found contacts are kept longer than misses: a new client should be found soon after creation. */
export const POSITIVE_TTL_S = 600;
export const NEGATIVE_TTL_S = 120;
/** An in-process copy in front of Redis, short-lived so other instances' updates show soon. */
const LOCAL_TTL_MS = 5000;
const LOCAL_MAX = 20000;

interface CacheEntry {
  contact: ContactMatch | null;
}

/**
 * Phone → CRM contact (with the responsible user), per integration, through a Redis
 * cache shared by every instance. Concurrent lookups of one number share one request.
 */
@Injectable()
export class ContactResolver {
  private readonly logger = new Logger('ContactResolver');
  private readonly inflight = new Map<string, Promise<ContactMatch | null>>();
  private readonly local = new Map<string, { contact: ContactMatch | null; until: number }>();

  constructor(
    private readonly redis: RedisService,
    private readonly clock: Clock,
  ) {}

  private key(integrationId: string, phone: string): string {
    return this.redis.key('contact', integrationId, phone);
  }

  /** The cached answer, or undefined when the cache has none (or Redis is down). */
  async cached(integrationId: string, phone: string): Promise<ContactMatch | null | undefined> {
    const key = this.key(integrationId, phone);
    const near = this.local.get(key);
    if (near && near.until > this.clock.nowMs()) return near.contact;
    try {
      const raw = await this.redis.client.get(key);
      if (raw === null) return undefined;
      const contact = (JSON.parse(raw) as CacheEntry).contact;
      this.remember(key, contact);
      return contact;
    } catch {
      return undefined;
    }
  }

  private remember(key: string, contact: ContactMatch | null): void {
    if (this.local.size >= LOCAL_MAX) this.local.clear();
    this.local.set(key, { contact, until: this.clock.nowMs() + LOCAL_TTL_MS });
  }

  /** The cached contact, or the CRM's answer through `lookup` (then cached). */
  async resolve(
    integrationId: string,
    phone: string,
    lookup: ContactLookup,
  ): Promise<ContactMatch | null> {
    const hit = await this.cached(integrationId, phone);
    if (hit !== undefined) return hit;
    const key = this.key(integrationId, phone);
    const running = this.inflight.get(key);
    if (running) return running;
    const pending = lookup(phone)
      .then(async (contact) => {
        const ttl = contact ? POSITIVE_TTL_S : NEGATIVE_TTL_S;
        this.remember(key, contact);
        await this.redis.client
          .set(key, JSON.stringify({ contact } satisfies CacheEntry), 'EX', ttl)
          .catch((err: Error) =>
            this.logger.warn({ err: err.message }, 'contact cache write failed'),
          );
        return contact;
      })
      .finally(() => this.inflight.delete(key));
    this.inflight.set(key, pending);
    return pending;
  }

  async forget(integrationId: string, phone: string): Promise<void> {
    this.local.delete(this.key(integrationId, phone));
    await this.redis.client.del(this.key(integrationId, phone)).catch(() => undefined);
  }
}
