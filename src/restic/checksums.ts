// Row counts and per-table checksums of a database, taken in the very snapshot pg_dump dumps:
// a psql session starts a REPEATABLE READ transaction, exports its snapshot, pg_dump runs with
// --snapshot=<it>, and the same session sums a 64-bit hash of every row per table (order-free,
// one scan, no sort). The restore drill restores the dump into a scratch database and compares.
import { debugNote, openSession, type Session } from '../exec/command.js';
import { psqlSession, type PostgresSource } from './postgres.js';

/**
 * How a table's rows are hashed. `record` (hash_record_extended, PostgreSQL 14+) hashes each
 * column with its type's own hash function: about 2.2x cheaper than `text` (the row's text form
 * through hashtextextended), which matters because the scan runs beside pg_dump and restic on the
 * same CPUs. It is only used for tables whose every column has a type in `hashableTypes`; `text`
 * works for any type. A type's hash treats equal values alike (numeric 1.0 = 1.00, trailing blanks
 * of char(n)): the checksum proves rows came back, not their display form.
 */
export type ChecksumMethod = 'record' | 'text';

export type TableChecksums = Record<
  string,
  { readonly rows: number; readonly checksum: string; readonly method?: ChecksumMethod }
>;

let markers = 0;
async function ask(session: Session, sql: string): Promise<string[]> {
  const marker = `__snapkeep_${process.pid}_${++markers}__`;
  return session.exchange(`${sql}\n\\echo ${marker}\n`, marker);
}

const hashableTypes = [
  'smallint',
  'integer',
  'bigint',
  'numeric',
  'real',
  'double precision',
  'boolean',
  'text',
  'character varying',
  'character',
  '"char"',
  'name',
  'bytea',
  'uuid',
  'jsonb',
  'date',
  'time without time zone',
  'time with time zone',
  'timestamp without time zone',
  'timestamp with time zone',
  'interval',
  'inet',
  'cidr',
  'macaddr',
  'oid',
];

// Every table the session may read (partitions and their parents alike), with whether all its
// column types are in hashableTypes.
const tablesQuery = `SELECT format('%I.%I', n.nspname, c.relname),
    coalesce(bool_and(format_type(a.atttypid, NULL) IN (${hashableTypes.map((type) => `'${type.replace(/'/g, "''")}'`).join(', ')})), true)
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  WHERE c.relkind IN ('r', 'p') AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
    AND has_table_privilege(c.oid, 'SELECT')
  GROUP BY 1 ORDER BY 1;`;

const hashExpression = (method: ChecksumMethod): string =>
  method === 'record' ? 'hash_record_extended(t, 0)' : 'hashtextextended(t::text, 0)';

/**
 * `methods` pins how given tables are hashed (the drill uses what the dump recorded, so a
 * checksum taken by an older snapkeep, always `text`, is compared like with like).
 */
async function checksumsIn(
  session: Session,
  methods: Readonly<Record<string, ChecksumMethod | undefined>> = {},
): Promise<TableChecksums> {
  const tables = (await ask(session, tablesQuery)).flatMap((line) => {
    const [table, hashable] = line.split('|');
    if (!table) return [];
    const method: ChecksumMethod = methods[table] ?? (hashable === 't' ? 'record' : 'text');
    return [{ table, method }];
  });
  if (tables.length === 0) return {};
  // Identifiers come quoted by format('%I'); the label is the same text as a literal. sum() of
  // the bigint hashes: PostgreSQL adds bigints in 128 bits and returns the exact numeric, the
  // same value `sum(hash::numeric)` gave (so checksums recorded before compare equal) for ~20 %
  // less of the scan's CPU (measured: 345 vs 425 ms over 1.3 M rows).
  const union = tables
    .map(
      ({ table, method }) =>
        `SELECT '${table.replace(/'/g, "''")}', count(*), coalesce(sum(${hashExpression(method)}), 0) FROM ${table} t`,
    )
    .join(' UNION ALL ');
  const result: TableChecksums = {};
  for (const line of await ask(session, `${union};`)) {
    const [table, rows, checksum] = line.split('|');
    const method = tables.find((candidate) => candidate.table === table)?.method;
    if (table !== undefined && rows !== undefined && checksum !== undefined)
      result[table] = { rows: Number(rows), checksum, method };
  }
  return result;
}

/**
 * Run `work` (the dump) in an exported snapshot, with the checksums of that same snapshot.
 * `work` starts at once and asks for the snapshot with `snapshotWhen(readerReady)`, which
 * answers when the dump should start: once the checksum scan is done or the dump's reader
 * (restic) is ready to read, whichever comes first. restic spends ~0.7 s opening its repository,
 * mostly in its memory-hard key derivation on one core. A scan then is not free (it slows that
 * derivation by ~70 % of its own length: memory bandwidth, not CPU), but cheaper than one that
 * overlaps the dump, which takes its whole CPU time from restic on a small machine (measured on
 * 2 cores, 500 MB database, A/B: +6 % vs +12 % over a bare pipe). A longer scan overlaps as before.
 */
export async function withDumpSnapshot<T>(
  source: PostgresSource,
  database: string,
  password: string | undefined,
  work: (snapshotWhen: (readerReady: Promise<void>) => Promise<string>) => Promise<T>,
): Promise<{ result: T; checksums: TableChecksums }> {
  const session = openSession(psqlSession(source, database, password));
  try {
    const snapshot = ask(
      session,
      'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\nSELECT pg_export_snapshot();',
    ).then(([exported]) => {
      if (!exported) throw new Error(`no snapshot exported by database ${database}`);
      return exported;
    });
    // Both see exactly the exported snapshot; a failed export fails both (reported once).
    const scanned = snapshot.then(async () => {
      debugNote(`snapshot of ${database} exported`);
      const checksums = await checksumsIn(session);
      debugNote(`checksums of ${database} taken`);
      return checksums;
    });
    const scanSettled = scanned.then(
      () => undefined,
      () => undefined,
    );
    const snapshotWhen = async (readerReady: Promise<void>): Promise<string> => {
      const exported = await snapshot;
      await Promise.race([scanSettled, readerReady]);
      return exported;
    };
    const [result, checksums] = await Promise.all([work(snapshotWhen), scanned]);
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
  recorded: TableChecksums = {},
): Promise<TableChecksums> {
  const session = openSession(psqlSession(source, database, password));
  try {
    // A recorded checksum without a method was taken before `record` existed: by `text`.
    const methods = Object.fromEntries(
      Object.entries(recorded).map(([table, entry]) => [table, entry.method ?? 'text']),
    );
    return await checksumsIn(session, methods);
  } finally {
    await session.close();
  }
}
