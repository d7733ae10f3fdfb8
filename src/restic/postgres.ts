// PostgreSQL commands as data (pure): list databases, dump one, create one, restore into one.
// Connection settings go in the environment (PGHOST, PGPORT, PGUSER, PGPASSWORD), never argv;
// with a command prefix (`docker exec -i db`) the command runs inside the container, which must
// then authenticate locally (the environment does not cross `docker exec`).
//
// Dump format: custom (`-Fc`) without compression (`-Z0`). Uncompressed, so restic's
// content-defined chunks dedup unchanged table data between runs (a compressed dump changes
// everywhere) and restic's own zstd compresses it; custom rather than plain SQL because
// pg_restore can then restore selected tables and runs every statement in one transaction with
// --exit-on-error, and the archive carries no per-dump random `\restrict` key (plain dumps do
// since PostgreSQL 15.14), so unchanged databases give identical streams.
import type { CommandSpec } from '../exec/command.js';
import type { ResolvedSource } from '../config/resolve.js';

export type PostgresSource = Extract<ResolvedSource, { type: 'postgres' }>;

function command(
  source: PostgresSource,
  file: string,
  args: readonly string[],
  password?: string,
): CommandSpec {
  const env: Record<string, string> = {};
  if (source.host !== undefined) env.PGHOST = source.host;
  if (source.port !== undefined) env.PGPORT = String(source.port);
  if (source.user !== undefined) env.PGUSER = source.user;
  if (password !== undefined) env.PGPASSWORD = password;
  const [prefixFile, ...prefixArgs] = source.commandPrefix;
  return prefixFile === undefined
    ? { file, args, env }
    : { file: prefixFile, args: [...prefixArgs, file, ...args], env };
}

export const listDatabases = (source: PostgresSource, password?: string): CommandSpec =>
  command(
    source,
    'psql',
    [
      '-X',
      '-w',
      '-At',
      '-d',
      'postgres',
      '-c',
      'SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname',
    ],
    password,
  );

/** `snapshot`: dump exactly what an exported snapshot sees (the checksums are taken in it too). */
export const dumpDatabase = (
  source: PostgresSource,
  database: string,
  password?: string,
  snapshot?: string,
): CommandSpec =>
  command(
    source,
    'pg_dump',
    [
      '-w',
      '--format=custom',
      '--compress=0',
      ...(snapshot ? [`--snapshot=${snapshot}`] : []),
      '--dbname',
      database,
    ],
    password,
  );

/** An interactive psql that stops at the first error (see checksums.ts). */
export const psqlSession = (source: PostgresSource, database: string, password?: string): CommandSpec =>
  command(source, 'psql', ['-X', '-w', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-d', database], password);

export const createDatabase = (source: PostgresSource, database: string, password?: string): CommandSpec =>
  command(source, 'createdb', ['-w', '--', database], password);

export const dropDatabase = (source: PostgresSource, database: string, password?: string): CommandSpec =>
  command(source, 'dropdb', ['-w', '--if-exists', '--', database], password);

/** One transaction, stop at the first error; `clean` drops existing objects first (--force). */
export const restoreDatabase = (
  source: PostgresSource,
  database: string,
  options: { readonly clean: boolean },
  password?: string,
): CommandSpec =>
  command(
    source,
    'pg_restore',
    [
      '-w',
      '--exit-on-error',
      '--single-transaction',
      ...(options.clean ? ['--clean', '--if-exists'] : []),
      '--dbname',
      database,
    ],
    password,
  );

/** Prints 1 when `database` exists (the name travels as a psql variable, quoted by psql). */
export const databaseExists = (source: PostgresSource, database: string, password?: string): CommandSpec => ({
  ...command(source, 'psql', ['-X', '-w', '-At', '-d', 'postgres', '-v', `name=${database}`], password),
  input: "SELECT 1 FROM pg_database WHERE datname = :'name';\n",
});
