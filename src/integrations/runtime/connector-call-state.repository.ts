import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { jsonColumn } from '../../common/sql';

/** A row of connector_call_state: a connector's own memory of one call. */
export interface ConnectorCallStateRow {
  call_pk: string;
  integration_id: string;
  state_key: string;
  /** Wrapped in {v} so MySQL (parses JSON) and MariaDB (returns text) read back alike. */
  value: string | { v: unknown };
}

/** The SQL of connector_call_state, and nothing else. */
@Injectable()
export class ConnectorCallStateRepository {
  constructor(@InjectDataSource() private readonly db: DataSource) {}

  async get<T>(callPk: string, integrationId: string, key: string): Promise<T | undefined> {
    const [row] = (await this.db.query(
      'SELECT value FROM connector_call_state WHERE call_pk = ? AND integration_id = ? AND state_key = ?',
      [callPk, integrationId, key],
    )) as Pick<ConnectorCallStateRow, 'value'>[];
    return row ? (jsonColumn<{ v: T }>(row.value as string | { v: T }).v as T) : undefined;
  }

  /** Inserts unless the key has a value; returns the value that stands. */
  async setOnce<T>(callPk: string, integrationId: string, key: string, value: T): Promise<T> {
    await this.db.query(
      'INSERT IGNORE INTO connector_call_state (call_pk, integration_id, state_key, value) VALUES (?, ?, ?, ?)',
      [callPk, integrationId, key, JSON.stringify({ v: value ?? null })],
    );
    return (await this.get<T>(callPk, integrationId, key)) as T;
  }

  async set(callPk: string, integrationId: string, key: string, value: unknown): Promise<void> {
    await this.db.query(
      `INSERT INTO connector_call_state (call_pk, integration_id, state_key, value) VALUES (?, ?, ?, ?)
       ON DUPLICATE KEY UPDATE value = VALUES(value)`,
      [callPk, integrationId, key, JSON.stringify({ v: value ?? null })],
    );
  }
}
