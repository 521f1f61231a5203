const RETRIED_CODES = new Set(['ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT']);
const ATTEMPTS = 5;

/**
 * Runs a batch again when it lost a deadlock to live traffic (a call being processed while
 * its rows are deleted); the batch is idempotent, so a second run only finishes the work.
 */
export async function retryingDeadlocks<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (attempt >= ATTEMPTS || !code || !RETRIED_CODES.has(code)) throw err;
      await new Promise((r) => setTimeout(r, 50 * attempt));
    }
  }
}
