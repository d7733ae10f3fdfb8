// Row counts and per-table checksums of a database, taken in the very snapshot pg_dump dumps:
// a psql session starts a REPEATABLE READ transaction, exports its snapshot, pg_dump runs with
// --snapshot=<it>, and the same session sums a 64-bit hash of every row per table (order-free,
// one scan, no sort). The restore drill restores the dump into a scratch database and compares.
import { openSession, type Session } from '../exec/command.js';
import { psqlSession, type PostgresSource } from './postgres.js';

export type TableChecksums = Record<string, { readonly rows: number; readonly checksum: string }>;

let markers = 0;
async function ask(session: Session, sql: string): Promise<string[]> {
  const marker = `__snapkeep_${process.pid}_${++markers}__`;
  return session.exchange(`${sql}\n\\echo ${marker}\n`, marker);
}

const tablesQuery = `SELECT format('%I.%I', table_schema, table_name) FROM information_schema.tables
  WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
  ORDER BY 1;`;

async function checksumsIn(session: Session): Promise<TableChecksums> {
  const tables = (await ask(session, tablesQuery)).filter(Boolean);
  if (tables.length === 0) return {};
  // Identifiers come quoted by format('%I'); the label is the same text as a literal.
  const union = tables
    .map(
      (table) =>
        `SELECT '${table.replace(/'/g, "''")}', count(*), coalesce(sum(hashtextextended(t::text, 0)::numeric), 0) FROM ${table} t`,
    )
    .join(' UNION ALL ');
  const result: TableChecksums = {};
  for (const line of await ask(session, `${union};`)) {
    const [table, rows, checksum] = line.split('|');
    if (table !== undefined && rows !== undefined && checksum !== undefined)
      result[table] = { rows: Number(rows), checksum };
  }
  return result;
}

/** Run `work` (the dump) in an exported snapshot, with the checksums of that same snapshot. */
export async function withDumpSnapshot<T>(
  source: PostgresSource,
  database: string,
  password: string | undefined,
  work: (snapshot: string) => Promise<T>,
): Promise<{ result: T; checksums: TableChecksums }> {
  const session = openSession(psqlSession(source, database, password));
  try {
    const [snapshot] = await ask(
      session,
      'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\nSELECT pg_export_snapshot();',
    );
    if (!snapshot) throw new Error(`no snapshot exported by database ${database}`);
    // The dump and the checksum scans overlap; both see exactly the exported snapshot.
    const [result, checksums] = await Promise.all([work(snapshot), checksumsIn(session)]);
    await ask(session, 'COMMIT;');
    return { result, checksums };
  } finally {
    await session.close();
  }
}

/** The checksums of a database as it is now (the drill's scratch copy). */
export async function checksumsOf(
  source: PostgresSource,
  database: string,
  password: string | undefined,
): Promise<TableChecksums> {
  const session = openSession(psqlSession(source, database, password));
  try {
    return await checksumsIn(session);
  } finally {
    await session.close();
  }
}
