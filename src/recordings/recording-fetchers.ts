import { Injectable } from '@nestjs/common';

/**
 * Turns a recording reference stored on a call into a URL that can be downloaded now.
 * PBXs whose links need credentials or expire (Zadarma) store a stable reference and
 * resolve it at playback time; plain http(s) URLs are fetched as they are.
 */
export interface RecordingFetcher {
  /** A downloadable URL for the stored reference, or null when the reference is not this fetcher's. */
  resolve(tenantId: string, stored: string): Promise<string | null>;
}

@Injectable()
export class RecordingFetchers {
  private readonly fetchers: RecordingFetcher[] = [];

  register(fetcher: RecordingFetcher): void {
    this.fetchers.push(fetcher);
  }

  async resolve(tenantId: string, stored: string): Promise<string> {
    for (const fetcher of this.fetchers) {
      const url = await fetcher.resolve(tenantId, stored);
      if (url) return url;
    }
    return stored;
  }
}
