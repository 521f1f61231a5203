import { Injectable, Logger } from '@nestjs/common';
import type { OriginateRequest, PbxOriginator } from '../pbx-adapter';
import { placeCall } from '../pbx-http';
import type { PbxSource } from '../pbx-source.entity';
import { accountOf, VatsApiError, VatsClient } from './vats.client';

/** Click-to-call through the PBX's `makecall`: the employee's phone rings first, then the client. */
@Injectable()
export class VatsOriginator implements PbxOriginator {
  private readonly logger = new Logger('VatsOriginator');

  constructor(private readonly client: VatsClient) {}

  canOriginate(): boolean {
    return true;
  }

  originate(
    source: PbxSource,
    credentials: Record<string, unknown> | null,
    request: OriginateRequest,
  ): Promise<void> {
    return placeCall(
      this.logger,
      request,
      () => accountOf(source, credentials),
      // The PBX dials digits; the employee may be named by extension.
      (account) => this.client.makeCall(account, request.extension, request.to.replace(/\D/g, '')),
      (err) => !(err instanceof VatsApiError) || err.retryable,
    );
  }
}
