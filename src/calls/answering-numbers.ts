import { Injectable } from '@nestjs/common';
import { isExtension } from '../contacts/phone';
import type { NormalizedEvent } from './call-event';

/**
 * Which agent an outside number belongs to (a mobile the PBX forwards the agent's calls to):
 * raw number as the event carries it → the agent's extension, for the numbers it knows.
 */
export type AnsweringNumberResolver = (
  tenantId: string,
  numbers: readonly string[],
) => Promise<ReadonlyMap<string, string>>;

/** Long enough to be a phone number, not an extension; a SIP account of digits passes too. */
const OUTSIDE = /^\+?\d{7,15}$/;

/**
 * Calls forwarded to a mobile ring and are answered at an outside number. Before events are
 * stored, an `extension` that is an agent's mobile becomes that agent's extension, so the
 * call, its pops, its CRM log and the statistics name the agent; a number that is nobody's
 * stays as it is (the call shows the number that answered). The agent map registers the
 * resolver, so calls never imports it.
 */
@Injectable()
export class AnsweringNumbers {
  private resolver: AnsweringNumberResolver | null = null;

  register(resolver: AnsweringNumberResolver): void {
    this.resolver = resolver;
  }

  async apply(tenantId: string, events: NormalizedEvent[]): Promise<NormalizedEvent[]> {
    if (!this.resolver) return events;
    const numbers = new Set<string>();
    for (const ev of events) {
      const ext = ev.extension;
      if (ext !== undefined && !isExtension(ext) && OUTSIDE.test(ext)) numbers.add(ext);
    }
    if (numbers.size === 0) return events;
    const owners = await this.resolver(tenantId, [...numbers]);
    if (owners.size === 0) return events;
    return events.map((ev) => {
      const agent = ev.extension !== undefined ? owners.get(ev.extension) : undefined;
      return agent ? { ...ev, extension: agent } : ev;
    });
  }
}
