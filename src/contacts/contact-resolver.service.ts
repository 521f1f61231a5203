import { Injectable, Logger } from '@nestjs/common';
import { RedisService } from '../common/redis.module';
import type { ContactMatch } from '../connector-sdk';
import type { LiveConnector } from '../integrations/connector-runtime.service';

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

  constructor(private readonly redis: RedisService) {}

  private key(integrationId: string, phone: string): string {
    return this.redis.key('contact', integrationId, phone);
  }

  /** The cached answer, or undefined when the cache has none (or Redis is down). */
  async cached(integrationId: string, phone: string): Promise<ContactMatch | null | undefined> {
    const key = this.key(integrationId, phone);
    const near = this.local.get(key);
    if (near && near.until > Date.now()) return near.contact;
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
    this.local.set(key, { contact, until: Date.now() + LOCAL_TTL_MS });
  }

  async resolve(live: LiveConnector, phone: string): Promise<ContactMatch | null> {
    const integrationId = live.integration.id;
    const hit = await this.cached(integrationId, phone);
    if (hit !== undefined) return hit;
    const key = this.key(integrationId, phone);
    const running = this.inflight.get(key);
    if (running) return running;
    const lookup = this.lookup(live, phone)
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
    this.inflight.set(key, lookup);
    return lookup;
  }

  async forget(integrationId: string, phone: string): Promise<void> {
    this.local.delete(this.key(integrationId, phone));
    await this.redis.client.del(this.key(integrationId, phone)).catch(() => undefined);
  }

  private async lookup(live: LiveConnector, phone: string): Promise<ContactMatch | null> {
    const { definition, connector } = live;
    if (definition.capabilities.includes('contactLookup') && connector.findContact) {
      return connector.findContact(phone);
    }
    if (definition.capabilities.includes('responsibleAgent') && connector.findResponsible) {
      const responsible = await connector.findResponsible(phone);
      return responsible ? { id: `responsible:${responsible.crmUserId}`, responsible } : null;
    }
    return null;
  }
}
