import type { EntityManager } from 'typeorm';

/** Anything that runs SQL: the DataSource, or the EntityManager of a transaction. */
export type Sql = Pick<EntityManager, 'query'>;

/** MySQL DATETIME(3) literal in UTC. */
export function sqlTime(iso: string | Date): string {
  const d = typeof iso === 'string' ? new Date(iso) : iso;
  return d.toISOString().replace('T', ' ').replace('Z', '');
}

/** "?, ?, ?" for n values. */
export function placeholders(n: number): string {
  return Array.from({ length: n }, () => '?').join(', ');
}

/** A JSON column as MySQL (parsed) or MariaDB (text) returns it. */
export function jsonColumn<T>(value: string | T): T {
  return typeof value === 'string' ? (JSON.parse(value) as T) : value;
}

/** A DATETIME column as the driver returns it, or null. */
export function timeColumn(value: Date | string | null): Date | null {
  return value === null ? null : new Date(value);
}
