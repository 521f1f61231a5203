import { Injectable } from '@nestjs/common';
import type { RecordingFetcher } from '../../recordings/recording-fetchers';
import { PbxSourcesService } from '../pbx-sources.service';
import { accountOf, ZadarmaAccount, ZadarmaClient } from './zadarma.client';
import type { CallRecordingRef } from './zadarma.mapper';

export interface SourceAccount {
  sourceId: string;
  account: ZadarmaAccount;
}

const RECORD_REQUEST_PATH = '/v1/pbx/record/request/';

/**
 * Zadarma recording links need a signed API call and expire (60 days at most), while CRMs
 * keep call history for years. NOTIFY_RECORD therefore stores a stable reference (the API
 * request for that recording) in the call's event before the webhook is answered, and the
 * hub asks Zadarma for a fresh link whenever a CRM plays the recording.
 */
@Injectable()
export class ZadarmaRecordings implements RecordingFetcher {
  constructor(
    private readonly client: ZadarmaClient,
    private readonly sources: PbxSourcesService,
  ) {}

  /** The stored reference: the API request that yields a link to this recording. */
  reference(source: SourceAccount, ref: CallRecordingRef): string {
    const query = new URLSearchParams({ call_id: ref.callIdWithRec, pbx_call_id: ref.pbxCallId });
    return `${source.account.apiUrl.replace(/\/+$/, '')}${RECORD_REQUEST_PATH}?${query.toString()}`;
  }

  async resolve(tenantId: string, stored: string): Promise<string | null> {
    if (!stored.includes(RECORD_REQUEST_PATH)) return null;
    const url = new URL(stored);
    const callId = url.searchParams.get('call_id') ?? undefined;
    const pbxCallId = url.searchParams.get('pbx_call_id') ?? undefined;
    for (const source of await this.sources.byType(tenantId, 'zadarma')) {
      const account = accountOf(source, this.sources.credentials(source));
      if (stored.startsWith(`${account.apiUrl.replace(/\/+$/, '')}${RECORD_REQUEST_PATH}`)) {
        return this.client.recordingLink(account, { callId, pbxCallId });
      }
    }
    return null;
  }
}
