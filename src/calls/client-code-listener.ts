import { Injectable, OnModuleInit } from '@nestjs/common';
import { ClientCodes } from '../contacts/client-codes.service';
import { TenantsService } from '../tenants/tenants.service';
import { CallChange, CallChangeListener, CallListeners } from './call-listeners';

/**
 * Privacy mode: every outside number of the tenant gets its client code when its first call
 * is stored, whether or not the PBX asked for a route (outbound calls, PBXs that never do).
 */
@Injectable()
export class ClientCodeListener implements CallChangeListener, OnModuleInit {
  constructor(
    private readonly listeners: CallListeners,
    private readonly tenants: TenantsService,
    private readonly codes: ClientCodes,
  ) {}

  onModuleInit(): void {
    this.listeners.register(this);
  }

  async interested(tenantId: string): Promise<boolean> {
    return (await this.tenants.find(tenantId))?.privacy?.clientCodes === true;
  }

  async onCallChanged(_tx: unknown, change: CallChange): Promise<(() => Promise<void>) | void> {
    const { next, previous, call } = change;
    const number =
      next.direction === 'inbound' ? next.from : next.direction === 'outbound' ? next.to : null;
    const before =
      previous?.direction === 'inbound'
        ? previous.from
        : previous?.direction === 'outbound'
          ? previous.to
          : null;
    if (!number || !number.startsWith('+') || number === before) return;
    return async () => {
      await this.codes.codeFor(call.tenantId, number);
    };
  }
}
