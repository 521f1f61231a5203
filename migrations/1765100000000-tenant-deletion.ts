import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * tenants.deleted_at: a tenant whose deletion has begun. It is gone for every lookup at once
 * (its keys and signatures are refused), while its rows are removed in batches; a deletion
 * cut short (a crash, a restart) is finished by the retention job.
 */
export class TenantDeletion1765100000000 implements MigrationInterface {
  name = 'TenantDeletion1765100000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE tenants ADD COLUMN deleted_at DATETIME(3) NULL');
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('ALTER TABLE tenants DROP COLUMN deleted_at');
  }
}
