import { MigrationInterface, QueryRunner } from 'typeorm';

/** A CRM action being sent is claimed until a deadline, so a crash mid-request is detectable. */
export class SyncClaims1764200000000 implements MigrationInterface {
  name = 'SyncClaims1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      'ALTER TABLE call_sync ADD COLUMN claimed_until DATETIME(3) NULL AFTER not_before',
    );
    await q.query(
      'ALTER TABLE call_sync ADD KEY ix_call_sync_batch (integration_id, action, status)',
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE call_sync DROP KEY ix_call_sync_batch');
    await q.query('ALTER TABLE call_sync DROP COLUMN claimed_until');
  }
}
