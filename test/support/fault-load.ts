import type { Connection } from 'mysql2/promise';
import { signHubPayload } from '../../src/tenants/hub-signature';

/**
 * Load for the fault suite (test/faults): several senders post signed generic events with
 * unique ids, the way a well-behaved PBX does: a request that failed (no answer, 5xx, any
 * non-2xx) is re-sent with the very same body until it is answered 2xx, so the hub's
 * idempotency on event ids is what keeps retried events from being stored twice.
 */

export interface LoadTenant {
  id: string;
  webhookSecret: string;
}

export interface Attempt {
  sender: number;
  /** ms since the epoch when the request was sent and when it ended. */
  startedAt: number;
  endedAt: number;
  /** HTTP status, or 0 when no answer came (refused, reset, timeout). */
  status: number;
  /** The answer's text, kept for non-2xx answers so a failure can be explained. */
  text: string;
  ids: string[];
  /** How many earlier attempts carried the same body. */
  retry: number;
}

export interface LoadOptions {
  /** The hub's base URL; a function because a restarted hub may move. */
  baseUrl: () => string;
  tenant: LoadTenant;
  senders: number;
  /** Prefix of event and call ids, unique per test. */
  prefix: string;
  /** Pause between two requests of one sender, to keep the load steady rather than maximal. */
  pauseMs?: number;
  /** Pause before a failed request is re-sent. */
  retryPauseMs?: number;
  requestTimeoutMs?: number;
}

interface PendingEvent {
  id: string;
  callId: string;
  body: Record<string, unknown>;
}

const BASE_TIME = Date.UTC(2026, 10, 25, 8, 0, 0);

/** The four events of one answered inbound call, in order; `n` keeps their times apart. */
function callEvents(callId: string, n: number): PendingEvent[] {
  const at = (s: number) => new Date(BASE_TIME + n * 1000 + s * 1000).toISOString();
  const ext = String(100 + (n % 9));
  const mk = (suffix: string, body: Record<string, unknown>): PendingEvent => ({
    id: `${callId}-${suffix}`,
    callId,
    body: { id: `${callId}-${suffix}`, callId, ...body },
  });
  return [
    mk('s', {
      type: 'call.started',
      direction: 'inbound',
      from: '+74951234567',
      to: '+74957654321',
      at: at(0),
    }),
    mk('r', { type: 'call.ringing', extension: ext, at: at(1) }),
    mk('a', { type: 'call.answered', extension: ext, at: at(5) }),
    mk('e', { type: 'call.ended', result: 'answered', duration: 30, at: at(35) }),
  ];
}

export class EventLoad {
  readonly attempts: Attempt[] = [];
  /** Event ids answered 2xx (each exactly once: a sender stops re-sending after a 2xx). */
  readonly answered = new Set<string>();
  /** Sums of the 2xx answers' `accepted` and `duplicates`. */
  acceptedSum = 0;
  duplicateSum = 0;
  /** `duplicates` reported by a first attempt: only a retry may see its own events stored. */
  firstTryDuplicates = 0;
  /** Event ids still unanswered when stop() gave up. */
  readonly unresolved = new Set<string>();

  private running = false;
  private draining = false;
  private drainDeadline = 0;
  private loops: Promise<void>[] = [];
  private readonly opts: Required<LoadOptions>;

  constructor(options: LoadOptions) {
    this.opts = { pauseMs: 15, retryPauseMs: 100, requestTimeoutMs: 10000, ...options };
  }

  /** Calls whose events were all answered 2xx. */
  get callIds(): Set<string> {
    return new Set([...this.answered].map((id) => id.replace(/-[srae]$/, '')));
  }

  start(): void {
    this.running = true;
    this.loops = Array.from({ length: this.opts.senders }, (_, i) => this.sender(i));
  }

  /**
   * Stops making new events, lets every sender get its last request answered 2xx (re-sending
   * as needed) for up to `drainMs`, then returns.
   */
  async stop(drainMs = 30000): Promise<void> {
    this.draining = true;
    this.drainDeadline = Date.now() + drainMs;
    await Promise.all(this.loops);
    this.running = false;
  }

  /** Attempts sent within [from, to) (by send time). */
  sentBetween(from: number, to: number): Attempt[] {
    return this.attempts.filter((a) => a.startedAt >= from && a.startedAt < to);
  }

  /** Attempts sent and answered inside the window. */
  answeredBetween(from: number, to: number): Attempt[] {
    return this.attempts.filter((a) => a.startedAt >= from && a.endedAt < to);
  }

  private async sender(index: number): Promise<void> {
    const queue: PendingEvent[] = [];
    let calls = 0;
    let size = 0;
    // Two calls open at once per sender, so one request mixes events of different calls.
    while (!this.draining) {
      while (queue.length < 8) {
        const callId = `${this.opts.prefix}-s${index}-c${calls}`;
        const events = callEvents(callId, calls++);
        // Interleave the new call's events with those already waiting.
        for (let i = 0; i < events.length; i++)
          queue.splice(Math.min(queue.length, i * 2), 0, events[i]);
      }
      size = (size % 3) + 1;
      const batch = queue.splice(0, size);
      await this.deliver(index, batch);
      await sleep(this.opts.pauseMs);
    }
  }

  /** Sends one request until it is answered 2xx (or the drain deadline passes). */
  private async deliver(sender: number, batch: PendingEvent[]): Promise<void> {
    const raw = JSON.stringify(
      batch.length === 1 ? batch[0].body : { events: batch.map((e) => e.body) },
    );
    const ids = batch.map((e) => e.id);
    for (let retry = 0; ; retry++) {
      if (this.draining && Date.now() > this.drainDeadline) {
        for (const id of ids) this.unresolved.add(id);
        return;
      }
      const startedAt = Date.now();
      const timestamp = Math.floor(startedAt / 1000);
      let status = 0;
      let text = '';
      try {
        const res = await fetch(`${this.opts.baseUrl()}/v1/pbx/${this.opts.tenant.id}/events`, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-hub-timestamp': String(timestamp),
            'x-hub-signature': signHubPayload(this.opts.tenant.webhookSecret, timestamp, raw),
          },
          body: raw,
          signal: AbortSignal.timeout(this.opts.requestTimeoutMs),
        });
        status = res.status;
        text = await res.text();
      } catch (err) {
        text = String((err as Error).cause ?? (err as Error).message);
      }
      this.attempts.push({ sender, startedAt, endedAt: Date.now(), status, text, ids, retry });
      if (status >= 200 && status < 300) {
        const body = JSON.parse(text) as { accepted: number; duplicates: number };
        this.acceptedSum += body.accepted;
        this.duplicateSum += body.duplicates;
        if (retry === 0) this.firstTryDuplicates += body.duplicates;
        for (const id of ids) this.answered.add(id);
        return;
      }
      await sleep(this.opts.retryPauseMs);
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface StoredEvents {
  total: number;
  pending: number;
  /** Rows whose process_count is not exactly 1. */
  notOnce: number;
}

export async function storedEvents(db: Connection, tenantId: string): Promise<StoredEvents> {
  const [rows] = (await db.query(
    `SELECT COUNT(*) AS total, COALESCE(SUM(processed_at IS NULL), 0) AS pending,
            COALESCE(SUM(process_count <> 1), 0) AS notOnce
       FROM call_events WHERE tenant_id = ?`,
    [tenantId],
  )) as unknown as [
    { total: number | string; pending: number | string; notOnce: number | string }[],
  ];
  return {
    total: Number(rows[0].total),
    pending: Number(rows[0].pending),
    notOnce: Number(rows[0].notOnce),
  };
}

/** Waits until every stored event of the tenant is processed (or the time is up). */
export async function waitProcessed(
  db: Connection,
  tenantId: string,
  timeoutMs: number,
): Promise<StoredEvents> {
  const deadline = Date.now() + timeoutMs;
  let last = await storedEvents(db, tenantId);
  while (last.pending > 0 && Date.now() < deadline) {
    await sleep(250);
    last = await storedEvents(db, tenantId);
  }
  return last;
}

export async function storedEventIds(db: Connection, tenantId: string): Promise<string[]> {
  const [rows] = (await db.query('SELECT event_id FROM call_events WHERE tenant_id = ?', [
    tenantId,
  ])) as unknown as [{ event_id: string }[]];
  return rows.map((r) => r.event_id);
}

export async function storedCallIds(db: Connection, tenantId: string): Promise<string[]> {
  const [rows] = (await db.query('SELECT call_id FROM calls WHERE tenant_id = ?', [
    tenantId,
  ])) as unknown as [{ call_id: string }[]];
  return rows.map((r) => r.call_id);
}

/** A compact account of the attempts, for failure messages and the test log. */
export function describeAttempts(attempts: Attempt[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const a of attempts) out[String(a.status)] = (out[String(a.status)] ?? 0) + 1;
  return out;
}

/**
 * The invariant every fault case ends on: each event answered 2xx is stored once and
 * processed exactly once, nothing else is stored, and every call exists.
 */
export async function expectAnsweredProcessedOnce(
  db: Connection,
  tenantId: string,
  load: EventLoad,
  timeoutMs: number,
): Promise<void> {
  const final = await waitProcessed(db, tenantId, timeoutMs);
  expect(final.pending).toBe(0);
  expect(final.notOnce).toBe(0);
  // Stored = answered, as sets: nothing lost, nothing extra, nothing twice.
  const stored = await storedEventIds(db, tenantId);
  expect(stored.length).toBe(new Set(stored).size);
  expect(new Set(stored)).toEqual(load.answered);
  expect(final.total).toBe(load.answered.size);
  // Each event was answered 2xx once, as accepted or (when its earlier, failed request had
  // already committed it) as a duplicate; and only a re-sent request may see duplicates.
  expect(load.acceptedSum + load.duplicateSum).toBe(load.answered.size);
  expect(load.firstTryDuplicates).toBe(0);
  expect(new Set(await storedCallIds(db, tenantId))).toEqual(load.callIds);
}
