import { Injectable, OnModuleInit } from '@nestjs/common';
import { Clock } from '../common/clock';
import { RedisService } from '../common/redis.service';
import { TenantChannels } from '../common/tenant-channels';
import type { CallChange, CallChangeListener } from './call-listeners';
import { CallListeners } from './call-listeners';
import { CallsService, CallView } from './calls.service';

const TOPIC = 'calls';
/** A stream marks its tenant as watched for this long, renewed while it is open. */
const WATCH_MS = 30_000;
const RENEW_MS = 10_000;
/** How long an instance trusts its reading of "is anyone watching this tenant". */
const INTEREST_CACHE_MS = 1000;

/**
 * The tenant's calls as they change, for the console's live list: the instance that
 * processes a call publishes its id after the commit, but only while some instance has a
 * stream of that tenant open (a Redis mark), so an unwatched tenant costs nothing.
 */
@Injectable()
export class CallStream implements CallChangeListener, OnModuleInit {
  private readonly interest = new Map<string, { watched: boolean; until: number }>();

  constructor(
    private readonly listeners: CallListeners,
    private readonly channels: TenantChannels,
    private readonly redis: RedisService,
    private readonly calls: CallsService,
    private readonly clock: Clock,
  ) {}

  onModuleInit(): void {
    this.listeners.register(this);
  }

  private mark(tenantId: string): string {
    return this.redis.key('calls-stream', tenantId);
  }

  async interested(tenantId: string): Promise<boolean> {
    const hit = this.interest.get(tenantId);
    if (hit && hit.until > this.clock.nowMs()) return hit.watched;
    const watched = (await this.redis.client.exists(this.mark(tenantId)).catch(() => 0)) === 1;
    if (this.interest.size > 10_000) this.interest.clear();
    this.interest.set(tenantId, { watched, until: this.clock.nowMs() + INTEREST_CACHE_MS });
    return watched;
  }

  async onCallChanged(_tx: unknown, change: CallChange): Promise<() => Promise<void>> {
    const { tenantId, callId } = change.call;
    return () => this.channels.publish(TOPIC, tenantId, callId);
  }

  /** Hands each changed call of the tenant to `send` until the returned function is called. */
  async watch(tenantId: string, send: (call: CallView) => void): Promise<() => void> {
    const renew = () =>
      this.redis.client.set(this.mark(tenantId), '1', 'PX', WATCH_MS).catch(() => undefined);
    await renew();
    const timer = setInterval(() => void renew(), RENEW_MS);
    timer.unref();
    // In the order the changes came, whatever each read takes.
    let chain = Promise.resolve();
    const unsubscribe = await this.channels.subscribe(TOPIC, tenantId, (callId) => {
      chain = chain
        .then(async () => {
          const call = await this.calls.one(tenantId, callId);
          if (call) send(call);
        })
        .catch(() => undefined);
    });
    return () => {
      clearInterval(timer);
      unsubscribe();
    };
  }
}
