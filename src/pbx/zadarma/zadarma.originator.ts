import { Injectable, Logger } from '@nestjs/common';
import type { OriginateRequest, PbxOriginator } from '../pbx-adapter';
import { placeCall } from '../pbx-http';
import type { PbxSource } from '../pbx-source.entity';
import { accountOf, ZadarmaApiError, ZadarmaClient } from './zadarma.client';

/** Click-to-call through a zadarma source: the extension is rung first, then the number. */
@Injectable()
export class ZadarmaOriginator implements PbxOriginator {
  private readonly logger = new Logger('ZadarmaOriginator');

  constructor(private readonly client: ZadarmaClient) {}

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
      // Zadarma dials digits; `sip` makes the extension's CallerID, prefix rules and recording apply.
      (account) =>
        this.client.callback(
          account,
          request.extension,
          request.to.replace(/\D/g, ''),
          request.extension,
        ),
      (err) => !(err instanceof ZadarmaApiError) || err.retryable,
    );
  }
}
