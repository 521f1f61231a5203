import { Injectable, OnModuleInit } from '@nestjs/common';
import type { CallChange, CallChangeListener } from '../../calls/call-listeners';
import { CallListeners } from '../../calls/call-listeners';
import type { CallState } from '../../calls/call-state';
import { TenantChannels } from '../../common/tenant-channels';
import { IntegrationsService } from '../integrations.service';
import { ConnectorRuntime } from '../runtime/connector-runtime.service';
import { e164 } from '../sync/call-info.mapper';

export type FeedType = 'call.ringing' | 'call.answered' | 'call.ended';
const FEED_TOPIC = 'feed';

/** A change of a call with an outside party, as every instance's widget streams receive it. */
export interface FeedEvent {
  type: FeedType;
  tenantId: string;
  callId: string;
  direction: 'inbound' | 'outbound';
  /** The outside party (E.164), when known. */
  phone: string | null;
  /** The company line. */
  line: string | null;
  ringing: string[];
  extension: string | null;
  answeredBy: string | null;
}

export type FeedHandler = (event: FeedEvent) => void;

/** What a feed event is made of: a call as its state or its stored row tells it. */
export interface FeedCall {
  direction: 'inbound' | 'outbound';
  from: string | null;
  to: string | null;
  ringing: string[];
  extension: string | null;
  answeredBy: string | null;
}

export function feedEvent(
  type: FeedType,
  tenantId: string,
  callId: string,
  c: FeedCall,
): FeedEvent {
  const inbound = c.direction === 'inbound';
  return {
    type,
    tenantId,
    callId,
    direction: c.direction,
    phone: e164(inbound ? c.from : c.to),
    line: e164(inbound ? c.to : c.from),
    ringing: c.ringing,
    extension: c.extension,
    answeredBy: c.answeredBy,
  };
}

/** What a change means to someone watching the call: it rings (more), is answered, ends. */
export function feedTypes(previous: CallState | null, next: CallState): FeedType[] {
  const out: FeedType[] = [];
  const was = previous?.status ?? 'started';
  const rangBefore = previous?.ringing.length ?? 0;
  if (next.status === 'ringing' && next.ringing.length > rangBefore) out.push('call.ringing');
  const answeredNow =
    (next.status === 'answered' || (next.status === 'ended' && next.answeredBy !== null)) &&
    was !== 'answered' &&
    was !== 'ended';
  if (answeredNow) out.push('call.answered');
  if (next.status === 'ended' && was !== 'ended') out.push('call.ended');
  return out;
}

/** Whether an event concerns the agent at this extension (it rang for them, or they took it). */
export function concerns(event: FeedEvent, extension: string): boolean {
  if (event.type === 'call.ringing') return event.ringing.includes(extension);
  return (
    event.ringing.includes(extension) ||
    event.extension === extension ||
    event.answeredBy === extension
  );
}

/**
 * Call changes for CRM widgets, across instances: the instance that processes a call
 * publishes its change on the tenant's Redis channel after the commit; every instance that
 * has a widget stream of that tenant open subscribes and hands it on. Only tenants with a
 * widget-capable integration publish anything.
 */
@Injectable()
export class CallFeed implements CallChangeListener, OnModuleInit {
  constructor(
    private readonly channels: TenantChannels,
    private readonly listeners: CallListeners,
    private readonly integrations: IntegrationsService,
    private readonly runtime: ConnectorRuntime,
  ) {}

  onModuleInit(): void {
    this.listeners.register(this);
  }

  async interested(tenantId: string): Promise<boolean> {
    const enabled = await this.integrations.enabled(tenantId);
    return enabled.some((i) => this.runtime.supports(i, 'widget'));
  }

  async onCallChanged(_tx: unknown, change: CallChange): Promise<(() => Promise<void>) | void> {
    const { next } = change;
    if (next.direction === 'internal') return;
    const types = feedTypes(change.previous, next);
    if (types.length === 0) return;
    const { tenantId, callId } = change.call;
    const call = { ...next, direction: next.direction };
    return async () => {
      for (const type of types) {
        const event = feedEvent(type, tenantId, callId, call);
        await this.channels.publish(FEED_TOPIC, event.tenantId, JSON.stringify(event));
      }
    };
  }

  /** Hands the tenant's call changes to `handler` until the returned function is called. */
  subscribe(tenantId: string, handler: FeedHandler): Promise<() => void> {
    return this.channels.subscribe(FEED_TOPIC, tenantId, (message) => {
      let event: FeedEvent;
      try {
        event = JSON.parse(message) as FeedEvent;
      } catch {
        return;
      }
      handler(event);
    });
  }
}
