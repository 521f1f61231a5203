import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Pre-summed call statistics, so that a period of a year is read from a few thousand rows
 * instead of every call in it.
 *
 * - call_stats_rollups: the sums of one UTC day of a tenant's calls per quarter hour
 *   (kind 'slot', key = quarter hours since the epoch), per agent and per line.
 * - call_stats_builds: each tenant's days before built_until are summed.
 * - call_stats_dirty: days whose sums are out of date because a call of theirs was written
 *   after they were summed (a late end, a backfill, a purge). `gen` goes up with every write,
 *   so a rebuild clears only the mark it saw. Such days are read from the calls until rebuilt.
 *
 * The triggers mark a day only when it may have been summed: only days ending two days ago
 * or more are, so live calls cost a comparison. A call also marks the day before its own,
 * whose missed calls it may have called back.
 */
export class StatsRollups1765200000000 implements MigrationInterface {
  name = 'StatsRollups1765200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE call_stats_rollups (
      tenant_id CHAR(36) NOT NULL,
      kind VARCHAR(8) NOT NULL,
      day DATE NOT NULL,
      k VARCHAR(64) NOT NULL,
      inbound INT NOT NULL,
      outbound INT NOT NULL,
      answered INT NOT NULL,
      missed INT NOT NULL,
      wait_sum DOUBLE NOT NULL,
      wait_n INT NOT NULL,
      talk_sum BIGINT NOT NULL,
      talk_n INT NOT NULL,
      called_back INT NOT NULL,
      PRIMARY KEY (tenant_id, kind, day, k),
      CONSTRAINT fk_call_stats_rollups_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
    await q.query(`CREATE TABLE call_stats_builds (
      tenant_id CHAR(36) NOT NULL PRIMARY KEY,
      built_until DATE NOT NULL,
      CONSTRAINT fk_call_stats_builds_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
    await q.query(`CREATE TABLE call_stats_dirty (
      tenant_id CHAR(36) NOT NULL,
      day DATE NOT NULL,
      gen INT NOT NULL,
      PRIMARY KEY (tenant_id, day),
      CONSTRAINT fk_call_stats_dirty_tenant FOREIGN KEY (tenant_id) REFERENCES tenants(id) ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
    await q.query(`CREATE PROCEDURE call_stats_mark(IN t CHAR(36), IN started DATETIME(3))
      BEGIN
        IF started < UTC_TIMESTAMP() - INTERVAL 2 DAY THEN
          INSERT INTO call_stats_dirty (tenant_id, day, gen) VALUES (t, DATE(started), 1)
            ON DUPLICATE KEY UPDATE gen = gen + 1;
        END IF;
        IF started < UTC_TIMESTAMP() - INTERVAL 1 DAY THEN
          INSERT INTO call_stats_dirty (tenant_id, day, gen)
            VALUES (t, DATE(started - INTERVAL 1 DAY), 1)
            ON DUPLICATE KEY UPDATE gen = gen + 1;
        END IF;
      END`);
    // The live path (a call of today) stops at the first comparison, without a CALL.
    await q.query(`CREATE TRIGGER tr_calls_stats_insert AFTER INSERT ON calls FOR EACH ROW
      BEGIN
        IF NEW.started_at < UTC_TIMESTAMP() - INTERVAL 1 DAY THEN
          CALL call_stats_mark(NEW.tenant_id, NEW.started_at);
        END IF;
      END`);
    await q.query(`CREATE TRIGGER tr_calls_stats_update AFTER UPDATE ON calls FOR EACH ROW
      BEGIN
        IF NEW.started_at < UTC_TIMESTAMP() - INTERVAL 1 DAY THEN
          CALL call_stats_mark(NEW.tenant_id, NEW.started_at);
        END IF;
        IF OLD.started_at <> NEW.started_at AND OLD.started_at < UTC_TIMESTAMP() - INTERVAL 1 DAY THEN
          CALL call_stats_mark(OLD.tenant_id, OLD.started_at);
        END IF;
      END`);
    await q.query(`CREATE TRIGGER tr_calls_stats_delete AFTER DELETE ON calls FOR EACH ROW
      CALL call_stats_mark(OLD.tenant_id, OLD.started_at)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP TRIGGER tr_calls_stats_delete');
    await q.query('DROP TRIGGER tr_calls_stats_update');
    await q.query('DROP TRIGGER tr_calls_stats_insert');
    await q.query('DROP PROCEDURE call_stats_mark');
    await q.query('DROP TABLE call_stats_dirty');
    await q.query('DROP TABLE call_stats_builds');
    await q.query('DROP TABLE call_stats_rollups');
  }
}
