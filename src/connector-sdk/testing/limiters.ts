import type { SandboxReply, SandboxRequest } from './sandbox-wire';

const WINDOW_MS = 1000;

/** A rate limit as the CRM enforces it. */
export interface SandboxLimiter {
  /** The bucket a request counts against, or null when it is not limited (e.g. a wrong key). */
  bucketOf(req: SandboxRequest): string | null;
  /** True when the request is admitted; called once per arrival. */
  admit(bucket: string, now: number): boolean;
  /** The CRM's answer to a request over the limit. */
  reject(req: SandboxRequest): SandboxReply;
}

/** At most `limit(bucket)` admitted requests in any sliding second (RetailCRM, amoCRM). */
export class SlidingWindowLimiter implements SandboxLimiter {
  private readonly windows = new Map<string, number[]>();

  constructor(
    private readonly spec: {
      bucketOf(req: SandboxRequest): string | null;
      limit(bucket: string): number;
      reject(req: SandboxRequest): SandboxReply;
    },
  ) {}

  bucketOf(req: SandboxRequest): string | null {
    return this.spec.bucketOf(req);
  }

  admit(bucket: string, now: number): boolean {
    let window = this.windows.get(bucket);
    if (!window) this.windows.set(bucket, (window = []));
    while (window.length && window[0] <= now - WINDOW_MS) window.shift();
    if (window.length >= this.spec.limit(bucket)) return false;
    window.push(now);
    return true;
  }

  reject(req: SandboxRequest): SandboxReply {
    return this.spec.reject(req);
  }
}

/** A counter that drains `drainPerSecond` and refuses above `burst` (Bitrix24). */
export class LeakyBucketLimiter implements SandboxLimiter {
  private readonly levels = new Map<string, { level: number; at: number }>();

  constructor(
    private readonly spec: {
      bucketOf(req: SandboxRequest): string | null;
      drainPerSecond: number;
      burst: number;
      reject(req: SandboxRequest): SandboxReply;
    },
  ) {}

  bucketOf(req: SandboxRequest): string | null {
    return this.spec.bucketOf(req);
  }

  admit(bucket: string, now: number): boolean {
    const state = this.levels.get(bucket) ?? { level: 0, at: now };
    state.level = Math.max(0, state.level - ((now - state.at) / 1000) * this.spec.drainPerSecond);
    state.at = now;
    this.levels.set(bucket, state);
    if (state.level + 1 > this.spec.burst) return false;
    state.level += 1;
    return true;
  }

  reject(req: SandboxRequest): SandboxReply {
    return this.spec.reject(req);
  }
}
