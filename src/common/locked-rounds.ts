import { Logger } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';

/**
 * A background job that runs at boot and every `intervalMs`, one round at a time in this
 * instance and one instance at a time in the cluster: a round holds a database lock
 * (GET_LOCK, named per database, since test databases share a server) on a connection of its
 * own, so an instance that dies lets go of it at once. The others find it taken and skip.
 */
export class LockedRounds<T> {
  private timer?: NodeJS.Timeout;
  private chain: Promise<unknown> = Promise.resolve();
  private running = false;
  private stopped = false;

  constructor(
    private readonly db: DataSource,
    /** The lock's name, before the database's. */
    private readonly lock: string,
    private readonly round: (sql: EntityManager) => Promise<T>,
    private readonly logger: Logger,
    private readonly what: string,
  ) {}

  /** True once stop() was called: a long round checks it between its batches. */
  get stopping(): boolean {
    return this.stopped;
  }

  start(intervalMs: number): void {
    setImmediate(() => void this.scheduled());
    this.timer = setInterval(() => void this.scheduled(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }

  /** One round, after any this instance is running; null when another instance holds the lock. */
  run(): Promise<T | null> {
    const next = this.chain.then(() => this.locked());
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async scheduled(): Promise<void> {
    if (this.running || this.stopped) return;
    try {
      await this.run();
    } catch (err) {
      if (this.stopped) return;
      this.logger.warn({ err: (err as Error).message }, `${this.what} failed; retried next round`);
    }
  }

  private async locked(): Promise<T | null> {
    this.running = true;
    const runner = this.db.createQueryRunner();
    const name = `CONCAT(?, LEFT(DATABASE(), 48))`;
    try {
      await runner.connect();
      const [{ got }] = (await runner.query(`SELECT GET_LOCK(${name}, 0) AS got`, [this.lock])) as {
        got: number | string | null;
      }[];
      if (Number(got) !== 1) {
        this.logger.debug(`another instance holds ${this.lock}; skipped`);
        return null;
      }
      try {
        return await this.round(runner.manager);
      } finally {
        await runner.query(`SELECT RELEASE_LOCK(${name})`, [this.lock]);
      }
    } finally {
      await runner.release();
      this.running = false;
    }
  }
}
