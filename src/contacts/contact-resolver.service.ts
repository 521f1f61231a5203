import { Inject, Injectable, Logger } from '@nestjs/common';
import { Clock } from '../common/clock';
import { RedisService } from '../common/redis.service';
import { AppConfig } from '../config/config';
import { APP_CONFIG } from '../config/config.module';
import type { ContactMatch } from '../connector-sdk';

/** Asks the CRM itself (the integration's connector) for the contact of a phone. */
export type ContactLookup = (phone: string) => Promise<ContactMatch | null>;

/**
 * Found contacts are kept longer than misses: a new client should be found soon after creation.
 * A found one older than HUB_CONTACT_FRESH_S is asked again, and serves only as the fallback.
 */
export const POSITIVE_TTL_S = 600;
export const NEGATIVE_TTL_S = 120;
/** An in-process copy in front of Redis, short-lived so other instances' updates show soon. */
const LOCAL_TTL_MS = 5000;
const LOCAL_MAX = 20000;

interface CacheEntry {
  contact: ContactMatch | null;
  /** When the CRM said so (ms); absent in entries written before freshness was tracked. */
  at?: number;
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
  private readonly freshMs: number;

  constructor(
    private readonly redis: RedisService,
    private readonly clock: Clock,
    @Inject(APP_CONFIG) config: AppConfig,
  ) {
    this.freshMs = config.contactFreshS * 1000;
  }

  private key(integrationId: string, phone: string): string {
    return this.redis.key('contact', integrationId, phone);
  }

  /** The cached answer, or undefined when the cache has none (or Redis is down). */
  async cached(integrationId: string, phone: string): Promise<ContactMatch | null | undefined> {
    return (await this.entry(integrationId, phone))?.contact;
  }

  /** The cached entry, and whether it is fresh enough to answer without asking the CRM. */
  private async entry(
    integrationId: string,
    phone: string,
  ): Promise<{ contact: ContactMatch | null; fresh: boolean } | undefined> {
    const key = this.key(integrationId, phone);
    const near = this.local.get(key);
    if (near && near.until > this.clock.nowMs()) return { contact: near.contact, fresh: true };
    try {
      const raw = await this.redis.client.get(key);
      if (raw === null) return undefined;
      const entry = JSON.parse(raw) as CacheEntry;
      // A miss is kept only briefly anyway; a found contact ages.
      const fresh = entry.contact === null || (entry.at ?? 0) + this.freshMs > this.clock.nowMs();
      if (fresh) this.remember(key, entry.contact);
      return { contact: entry.contact, fresh };
    } catch {
      return undefined;
    }
  }

  private remember(key: string, contact: ContactMatch | null): void {
    if (this.local.size >= LOCAL_MAX) this.local.clear();
    this.local.set(key, { contact, until: this.clock.nowMs() + LOCAL_TTL_MS });
  }

  /**
   * The cached contact, or the CRM's answer through `lookup` (then cached). A cached contact
   * that is no longer fresh is asked again; if the CRM has not answered within `staleAfterMs`,
   * the old one answers (and the lookup still refreshes the cache).
   */
  async resolve(
    integrationId: string,
    phone: string,
    lookup: ContactLookup,
    staleAfterMs = 0,
  ): Promise<ContactMatch | null> {
    const hit = await this.entry(integrationId, phone);
    if (hit?.fresh) return hit.contact;
    const asked = this.ask(integrationId, phone, lookup);
    if (!hit) return asked;
    // Stale: a failing CRM falls back to what it said last time.
    const fallback = asked.catch(() => hit.contact);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<ContactMatch | null>((resolve) => {
      timer = setTimeout(() => resolve(hit.contact), Math.max(0, staleAfterMs));
    });
    try {
      return await Promise.race([fallback, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  private ask(
    integrationId: string,
    phone: string,
    lookup: ContactLookup,
  ): Promise<ContactMatch | null> {
    const key = this.key(integrationId, phone);
    const running = this.inflight.get(key);
    if (running) return running;
    const pending = lookup(phone)
      .then(async (contact) => {
        const ttl = contact ? POSITIVE_TTL_S : NEGATIVE_TTL_S;
        this.remember(key, contact);
        await this.redis.client
          .set(
            key,
            JSON.stringify({ contact, at: this.clock.nowMs() } satisfies CacheEntry),
            'EX',
            ttl,
          )
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
