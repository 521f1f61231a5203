import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Concurrent ingest requests share one INSERT; the batch token tells, when some events
 * were duplicates, which rows this statement inserted.
 */
export class IngestBatch1764300000000 implements MigrationInterface {
  name = 'IngestBatch1764300000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE call_events ADD COLUMN ingest_batch BIGINT NULL');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE call_events DROP COLUMN ingest_batch');
  }
}
