import { Injectable, Logger } from '@nestjs/common';
import { OriginateRequest, PbxError, PbxOriginator } from '../pbx-adapter';
import type { PbxSource } from '../pbx-source.entity';
import { accountOf, ZadarmaAccount, ZadarmaApiError, ZadarmaClient } from './zadarma.client';

/** Click-to-call through a zadarma source: the extension is rung first, then the number. */
@Injectable()
export class ZadarmaOriginator implements PbxOriginator {
  private readonly logger = new Logger('ZadarmaOriginator');

  constructor(private readonly client: ZadarmaClient) {}

  canOriginate(): boolean {
    return true;
  }

  async originate(
    source: PbxSource,
    credentials: Record<string, unknown> | null,
    request: OriginateRequest,
  ): Promise<void> {
    let account: ZadarmaAccount;
    try {
      account = accountOf(source, credentials);
    } catch (err) {
      throw PbxError.notConfigured((err as Error).message);
    }
    // Zadarma dials digits; `sip` makes the extension's CallerID, prefix rules and recording apply.
    const to = request.to.replace(/\D/g, '');
    try {
      await this.client.callback(account, request.extension, to, request.extension);
    } catch (err) {
      const e = err as ZadarmaApiError;
      this.logger.warn(
        { tenantId: request.tenantId, requestId: request.requestId, err: e.message },
        'Zadarma callback request failed',
      );
      const retryable = e instanceof ZadarmaApiError ? e.retryable : true;
      throw retryable ? PbxError.unreachable(e.message) : PbxError.refused(e.message);
    }
  }
}
