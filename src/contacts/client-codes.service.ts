import { randomInt } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { Clock } from '../common/clock';
import { sqlTime } from '../common/sql';

/** Codes kept in memory per instance: the hot path (routing) asks for the same callers. */
const CACHE_SIZE = 50_000;
/** Codes get a digit longer once a tenant has used this share of the current width. */
const FILL_LIMIT = 0.3;
const MIN_DIGITS = 6;
const MAX_DIGITS = 12;
const ATTEMPTS = 8;

/**
 * Privacy mode's client codes: every outside number of a tenant gets a stable numeric code,
 * short enough to dial (6 digits, longer as the tenant grows), drawn at random so that it says
 * nothing about the number, and unique within the tenant both ways.
 */
@Injectable()
export class ClientCodes {
  private readonly byNumber = new Map<string, string>();
  private readonly widths = new Map<string, { digits: number; until: number }>();

  constructor(
    @InjectDataSource() private readonly db: DataSource,
    private readonly clock: Clock,
  ) {}

  /** The number's code, given one the first time the tenant sees the number. */
  async codeFor(tenantId: string, number: string): Promise<string> {
    const key = `${tenantId}|${number}`;
    const hit = this.byNumber.get(key);
    if (hit) return hit;
    let code = await this.lookup(tenantId, number);
    for (let attempt = 0; !code && attempt < ATTEMPTS; attempt++) {
      const digits = await this.width(tenantId);
      const candidate = String(randomInt(10 ** (digits - 1), 10 ** digits));
      // A clash on the code is ignored and drawn again; one on the number means another
      // instance gave it a code a moment ago, which the lookup then reads.
      await this.db.query(
        'INSERT IGNORE INTO client_codes (tenant_id, number, code, created_at) VALUES (?, ?, ?, ?)',
        [tenantId, number, candidate, sqlTime(this.clock.now())],
      );
      code = await this.lookup(tenantId, number);
    }
    if (!code) throw new Error('no free client code after several draws');
    this.remember(key, code);
    return code;
  }

  /** Codes of the numbers that have one (for listing calls); numbers without one are absent. */
  async codesOf(tenantId: string, numbers: readonly string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    const missing = [...new Set(numbers)].filter((n) => {
      const hit = this.byNumber.get(`${tenantId}|${n}`);
      if (hit) out.set(n, hit);
      return !hit;
    });
    if (missing.length) {
      const rows = (await this.db.query(
        'SELECT number, code FROM client_codes WHERE tenant_id = ? AND number IN (?)',
        [tenantId, missing],
      )) as { number: string; code: string }[];
      for (const r of rows) out.set(r.number, r.code);
    }
    return out;
  }

  /** The number behind a code, or null. */
  async numberOf(tenantId: string, code: string): Promise<string | null> {
    if (!/^\d{6,12}$/.test(code)) return null;
    const rows = (await this.db.query(
      'SELECT number FROM client_codes WHERE tenant_id = ? AND code = ?',
      [tenantId, code],
    )) as { number: string }[];
    return rows[0]?.number ?? null;
  }

  private async lookup(tenantId: string, number: string): Promise<string | null> {
    const rows = (await this.db.query(
      'SELECT code FROM client_codes WHERE tenant_id = ? AND number = ?',
      [tenantId, number],
    )) as { code: string }[];
    return rows[0]?.code ?? null;
  }

  /** The width new codes are drawn at: short while the tenant's codes are sparse in it. */
  private async width(tenantId: string): Promise<number> {
    const cached = this.widths.get(tenantId);
    if (cached && cached.until > this.clock.nowMs()) return cached.digits;
    const [{ n }] = (await this.db.query(
      'SELECT COUNT(*) AS n FROM client_codes WHERE tenant_id = ?',
      [tenantId],
    )) as { n: number | string }[];
    let digits = MIN_DIGITS;
    while (digits < MAX_DIGITS && Number(n) >= FILL_LIMIT * 9 * 10 ** (digits - 1)) digits++;
    this.widths.set(tenantId, { digits, until: this.clock.nowMs() + 60_000 });
    return digits;
  }

  private remember(key: string, code: string): void {
    if (this.byNumber.size >= CACHE_SIZE) {
      const oldest = this.byNumber.keys().next().value;
      if (oldest !== undefined) this.byNumber.delete(oldest);
    }
    this.byNumber.set(key, code);
  }
}
