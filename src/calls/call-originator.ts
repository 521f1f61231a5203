import { Injectable, ServiceUnavailableException } from '@nestjs/common';

export interface OriginateCommand {
  tenantId: string;
  /** The agent's extension, rung first. */
  extension: string;
  /** The number to call, as given (the originator normalizes it). */
  to?: string;
  /** Privacy mode: the client code to call instead of a number. */
  code?: string;
}

export interface Originator {
  originate(command: OriginateCommand): Promise<{ requestId: string }>;
}

/**
 * Click-to-call as the rooms above calls see it (the calls API, CRM callbacks). The PBX
 * room registers the originator that reaches the tenant's PBX when it starts.
 */
@Injectable()
export class CallOriginator implements Originator {
  private impl: Originator | null = null;

  use(impl: Originator): void {
    this.impl = impl;
  }

  originate(command: OriginateCommand): Promise<{ requestId: string }> {
    if (!this.impl) throw new ServiceUnavailableException('no PBX adapter can place calls');
    return this.impl.originate(command);
  }
}
