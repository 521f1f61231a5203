import { Injectable } from '@nestjs/common';
import { InjectRepository } from '@nestjs/typeorm';
import { Repository } from 'typeorm';
import { Integration, IntegrationStatus } from './integration.entity';

const UUID = /^[0-9a-f-]{36}$/;

/** The integrations table: its rows through TypeORM, its token and status writes by SQL. */
@Injectable()
export class IntegrationsRepository {
  constructor(@InjectRepository(Integration) private readonly repo: Repository<Integration>) {}

  create(fields: Partial<Integration>): Integration {
    return this.repo.create(fields);
  }

  save(integration: Integration): Promise<Integration> {
    return this.repo.save(integration);
  }

  async byId(id: string): Promise<Integration | null> {
    return UUID.test(id) ? this.repo.findOneBy({ id }) : null;
  }

  async ofTenant(tenantId: string, id: string): Promise<Integration | null> {
    return UUID.test(id) ? this.repo.findOneBy({ id, tenantId }) : null;
  }

  list(tenantId: string, enabledOnly = false): Promise<Integration[]> {
    return this.repo.find({
      where: enabledOnly ? { tenantId, enabled: true } : { tenantId },
      order: { createdAt: 'ASC' },
    });
  }

  async delete(id: string): Promise<void> {
    await this.repo.delete({ id });
  }

  async setStatus(id: string, status: IntegrationStatus, message: string | null): Promise<void> {
    await this.repo.update({ id }, { status, statusMessage: message?.slice(0, 500) ?? null });
  }

  /** An install is wanted: kept until it is done, so a lost install job is found again. */
  async markInstallDue(id: string, at: Date): Promise<void> {
    await this.repo.query('UPDATE integrations SET install_due_at = ? WHERE id = ?', [at, id]);
  }

  /**
   * The install that began at `startedAt` is done or given up: unless another was asked for
   * since (a later due time), nothing is due any more.
   */
  async installSettled(id: string, startedAt: Date): Promise<void> {
    await this.repo.query(
      'UPDATE integrations SET install_due_at = NULL WHERE id = ? AND install_due_at <= ?',
      [id, startedAt],
    );
  }

  /** Since when an install has been wanted, or null when none is. */
  async installDueAt(id: string): Promise<Date | null> {
    const [row] = (await this.repo.query('SELECT install_due_at FROM integrations WHERE id = ?', [
      id,
    ])) as { install_due_at: Date | null }[];
    return row?.install_due_at ?? null;
  }

  /** Integrations whose install has been due since before `before` (their job may be lost). */
  async installsDue(before: Date, limit: number): Promise<string[]> {
    const rows = (await this.repo.query(
      'SELECT id FROM integrations WHERE install_due_at IS NOT NULL AND install_due_at < ? AND enabled = 1 LIMIT ?',
      [before, limit],
    )) as { id: string }[];
    return rows.map((r) => r.id);
  }

  async saveCredentials(id: string, sealed: string): Promise<void> {
    await this.repo.query('UPDATE integrations SET credentials_enc = ? WHERE id = ?', [sealed, id]);
  }

  async readTokens(id: string): Promise<{ sealed: string | null; version: number } | null> {
    const [row] = (await this.repo.query(
      'SELECT tokens_enc, tokens_version FROM integrations WHERE id = ?',
      [id],
    )) as { tokens_enc: string | null; tokens_version: number }[];
    return row ? { sealed: row.tokens_enc, version: Number(row.tokens_version) } : null;
  }

  /** Writes the tokens only over the version they were read at; false when someone wrote first. */
  async writeTokens(id: string, sealed: string, readVersion: number): Promise<boolean> {
    const res = (await this.repo.query(
      'UPDATE integrations SET tokens_enc = ?, tokens_version = tokens_version + 1 WHERE id = ? AND tokens_version = ?',
      [sealed, id, readVersion],
    )) as { affectedRows: number };
    return res.affectedRows === 1;
  }
}
