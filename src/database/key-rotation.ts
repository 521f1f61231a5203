import { DataSource } from 'typeorm';
import { SecretBox } from '../common/secret-box';

/**
 * Every column that holds a SecretBox-sealed value, with the context its room binds it to
 * (tenants.service.ts, integrations/runtime/credential-box.ts, pbx/pbx-sources.service.ts).
 * A `*_enc` column missing here is reported by the rotation, which then fails.
 */
export const SEALED_COLUMNS: readonly SealedColumn[] = [
  { table: 'tenants', column: 'webhook_secret_enc', context: (id) => `tenant:${id}:webhook` },
  {
    table: 'integrations',
    column: 'credentials_enc',
    context: (id) => `integration:${id}:credentials`,
  },
  { table: 'integrations', column: 'tokens_enc', context: (id) => `integration:${id}:tokens` },
  {
    table: 'pbx_sources',
    column: 'credentials_enc',
    context: (id) => `pbx-source:${id}:credentials`,
  },
];

export interface SealedColumn {
  table: string;
  column: string;
  context: (id: string) => string;
}

export interface ColumnReport {
  table: string;
  column: string;
  /** Sealed again with the current key. */
  rotated: number;
  /** Already sealed with the current key. */
  current: number;
  /** Opened with neither key (ids only: never a value). */
  unreadable: string[];
}

export interface RotationReport {
  columns: ColumnReport[];
  /** `table.column` of sealed-looking columns this rotation does not know. */
  unknownColumns: string[];
}

const PAGE = 500;

/**
 * Seals every stored secret again with `box`'s current key: one that opens with the current
 * key is left alone (so running it twice changes nothing), one that opens with the previous
 * key is sealed again, each row in its own transaction under a row lock (a writer that
 * changed it meanwhile wins: its value is already sealed with the current key). Timestamps
 * are kept.
 */
export async function rotateSecrets(db: DataSource, box: SecretBox): Promise<RotationReport> {
  const present = (await db.query(
    `SELECT TABLE_NAME AS t, COLUMN_NAME AS c FROM information_schema.COLUMNS
      WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME LIKE '%\\_enc'`,
  )) as { t: string; c: string }[];
  const known = new Set(SEALED_COLUMNS.map((s) => `${s.table}.${s.column}`));
  const have = new Set(present.map((p) => `${p.t}.${p.c}`));
  const report: RotationReport = {
    columns: [],
    unknownColumns: [...have].filter((name) => !known.has(name)).sort(),
  };
  for (const sealed of SEALED_COLUMNS) {
    if (!have.has(`${sealed.table}.${sealed.column}`)) continue;
    report.columns.push(await rotateColumn(db, box, sealed));
  }
  return report;
}

async function rotateColumn(
  db: DataSource,
  box: SecretBox,
  s: SealedColumn,
): Promise<ColumnReport> {
  const out: ColumnReport = {
    table: s.table,
    column: s.column,
    rotated: 0,
    current: 0,
    unreadable: [],
  };
  let after = '';
  for (;;) {
    const ids = (await db.query(
      `SELECT id FROM \`${s.table}\` WHERE \`${s.column}\` IS NOT NULL AND id > ? ORDER BY id LIMIT ?`,
      [after, PAGE],
    )) as { id: string }[];
    if (ids.length === 0) return out;
    after = ids[ids.length - 1].id;
    for (const { id } of ids) {
      const outcome = await db.transaction(async (tx) => {
        const [row] = (await tx.query(
          `SELECT \`${s.column}\` AS value FROM \`${s.table}\` WHERE id = ? FOR UPDATE`,
          [id],
        )) as { value: string | null }[];
        if (!row?.value) return 'gone' as const;
        const context = s.context(id);
        if (box.opensWithCurrentKey(row.value, context)) return 'current' as const;
        let plaintext: string;
        try {
          plaintext = box.open(row.value, context);
        } catch {
          return 'unreadable' as const;
        }
        // Setting updated_at to itself keeps ON UPDATE CURRENT_TIMESTAMP from moving it.
        await tx.query(
          `UPDATE \`${s.table}\` SET \`${s.column}\` = ?, updated_at = updated_at WHERE id = ?`,
          [box.seal(plaintext, context), id],
        );
        return 'rotated' as const;
      });
      if (outcome === 'rotated') out.rotated++;
      else if (outcome === 'current') out.current++;
      else if (outcome === 'unreadable') out.unreadable.push(id);
    }
  }
}

/** The report as lines for the operator; ids of unreadable rows, never a value. */
export function describeRotation(report: RotationReport): string[] {
  const lines = report.columns.map(
    (c) =>
      `${c.table}.${c.column}: ${c.rotated} re-encrypted, ${c.current} already current, ` +
      `${c.unreadable.length} unreadable${c.unreadable.length ? ` (ids: ${c.unreadable.join(', ')})` : ''}`,
  );
  const total = (k: 'rotated' | 'current') => report.columns.reduce((n, c) => n + c[k], 0);
  const unreadable = report.columns.reduce((n, c) => n + c.unreadable.length, 0);
  lines.push(
    `total: ${total('rotated')} re-encrypted, ${total('current')} already current, ${unreadable} unreadable`,
  );
  for (const name of report.unknownColumns) {
    lines.push(`not rotated: ${name} looks sealed but is not in SEALED_COLUMNS (key-rotation.ts)`);
  }
  return lines;
}

/** Whether HUB_ENCRYPTION_KEY_PREVIOUS may now be removed. */
export function rotationComplete(report: RotationReport): boolean {
  return (
    report.unknownColumns.length === 0 && report.columns.every((c) => c.unreadable.length === 0)
  );
}
