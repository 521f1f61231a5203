import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * calls.client_number: the outside party of a call (the caller of an inbound call, the
 * callee of an outbound one), computed by the database and indexed per tenant and time, so
 * a client's last calls (a widget's card, a client's timeline) are one index range.
 *
 * ix_calls_open: calls by status and start, for closing the ones whose end never arrived. Keyed
 * on started_at, which never changes, not on updated_at, which every processing moves: the
 * index changes only when a call's status does.
 */
export class ClientNumber1764700000000 implements MigrationInterface {
  name = 'ClientNumber1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(
      `ALTER TABLE calls
         ADD COLUMN client_number VARCHAR(64)
           AS (IF(direction = 'outbound', to_number, from_number)) STORED,
         ADD KEY ix_calls_client (tenant_id, client_number, started_at),
         ADD KEY ix_calls_open (status, started_at)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(
      'ALTER TABLE calls DROP KEY ix_calls_open, DROP KEY ix_calls_client, DROP COLUMN client_number',
    );
  }
}
