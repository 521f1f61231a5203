import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What recovery after a crash or a Redis data loss needs to know from the database alone:
 * - call_sync.sent_at: a request of the action may have left the hub (only then is a create
 *   in doubt and reconciled with the CRM); failures: consecutive failed attempts (backoff);
 *   popped: the extensions a pop showed the card to, however many there are.
 * - call_events.failed_at / fail_count / last_error: a call whose processing keeps failing is
 *   set aside instead of being re-queued forever.
 * - integrations.install_due_at: an install is wanted and not done yet (the job may be lost).
 */
export class SyncTrust1764500000000 implements MigrationInterface {
  name = 'SyncTrust1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      'ALTER TABLE call_sync ADD COLUMN sent_at DATETIME(3) NULL AFTER claimed_until, ' +
        'ADD COLUMN failures INT NOT NULL DEFAULT 0 AFTER attempts, ADD COLUMN popped JSON NULL AFTER external_id',
    );
    await q.query(
      'ALTER TABLE call_events ADD COLUMN fail_count INT NOT NULL DEFAULT 0, ' +
        'ADD COLUMN failed_at DATETIME(3) NULL, ADD COLUMN last_error VARCHAR(1000) NULL',
    );
    await q.query(
      'ALTER TABLE call_events DROP KEY ix_call_events_pending, ' +
        'ADD KEY ix_call_events_pending (processed_at, failed_at, received_at)',
    );
    await q.query('ALTER TABLE integrations ADD COLUMN install_due_at DATETIME(3) NULL');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE integrations DROP COLUMN install_due_at');
    await q.query(
      'ALTER TABLE call_events DROP KEY ix_call_events_pending, ' +
        'ADD KEY ix_call_events_pending (processed_at, received_at)',
    );
    await q.query(
      'ALTER TABLE call_events DROP COLUMN last_error, DROP COLUMN failed_at, DROP COLUMN fail_count',
    );
    await q.query(
      'ALTER TABLE call_sync DROP COLUMN popped, DROP COLUMN failures, DROP COLUMN sent_at',
    );
  }
}
