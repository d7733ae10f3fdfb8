// A real, private PostgreSQL server for integration tests: its own cluster in a unique temp dir
// (initdb as the system user postgres, which the server refuses to run as root), listening on
// 127.0.0.1 and a free port, with its socket in that dir too, so parallel runs on this shared
// machine never meet. stop() stops only this cluster (by its data dir, then by the PID in its
// postmaster.pid) and removes the dir.
import { chown, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChecked, runCommand, type CommandResult } from '../../src/exec/command.js';
import { requireTools } from './loop-btrfs.js';
import { freePort } from './net.js';

export interface PostgresServer {
  readonly host: string;
  readonly port: number;
  readonly socketDirectory: string;
  readonly user: string;
  /** Run SQL in a database with psql (-v ON_ERROR_STOP=1 -X -q -At), returns stdout without its
   *  trailing newline; throws with stderr on failure. The SQL goes in on stdin, so a script of
   *  several statements works. */
  sql(database: string, query: string): Promise<string>;
  createDatabase(name: string): Promise<void>;
  /** Per-table row counts and a content checksum (md5 of the ordered rows' text) for every user
   *  table in `database`: { "schema.table": { rows, checksum } }. An empty table's checksum is
   *  md5(''). */
  tableDigests(database: string): Promise<Record<string, { rows: number; checksum: string }>>;
  stop(): Promise<void>;
}

const user = 'postgres';
const host = '127.0.0.1';

/** libpq environment for a client (psql, pg_dump, pg_restore) talking to `server` over TCP. */
export function clientEnv(server: Pick<PostgresServer, 'host' | 'port' | 'user'>): Record<string, string> {
  // PGCONNECT_TIMEOUT: a dead server must fail a test, not hang it.
  return { PGHOST: server.host, PGPORT: String(server.port), PGUSER: server.user, PGCONNECT_TIMEOUT: '10' };
}

/** The newest installed server's bin dir (Debian layout): pg_dump/psql on PATH are the newest
 *  version's too (pg_wrapper), and a client must not be older than the server it dumps. */
async function serverBinDirectory(): Promise<string> {
  const root = '/usr/lib/postgresql';
  const versions = (await readdir(root).catch(() => []))
    .filter((entry) => /^\d+$/.test(entry))
    .sort((a, b) => Number(b) - Number(a));
  for (const version of versions) {
    const bin = join(root, version, 'bin');
    const probe = await runCommand({ file: 'test', args: ['-x', join(bin, 'initdb')] });
    if (probe.exitCode === 0) return bin;
  }
  throw new Error(`no PostgreSQL server found under ${root}/*/bin — run scripts/install-deps.sh`);
}

/** Single-quote for the shell: pg_ctl hands its -o options to /bin/sh. */
function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Send a signal; the process may have exited meanwhile, which is what we wanted anyway. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // already gone
  }
}

/** The postmaster's PID, if the cluster in `dataDirectory` is (or may still be) running. */
async function postmasterPid(dataDirectory: string): Promise<number | undefined> {
  const text = await readFile(join(dataDirectory, 'postmaster.pid'), 'utf8').catch(() => '');
  const pid = Number(text.split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** True if `pid` is a postgres whose command line names our data dir — never kill a recycled PID. */
async function isOurPostmaster(pid: number, dataDirectory: string): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.split('\0').includes(dataDirectory);
}

async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!processAlive(pid)) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return !processAlive(pid);
}

export async function startPostgres(): Promise<PostgresServer> {
  if (process.getuid?.() !== 0) throw new Error('startPostgres needs root (it runs the server as postgres)');
  const bin = await serverBinDirectory();
  await requireTools([
    'runuser',
    'getent',
    'psql',
    join(bin, 'initdb'),
    join(bin, 'pg_ctl'),
    join(bin, 'postgres'),
  ]);
  const account = await runCommand({ file: 'getent', args: ['passwd', user] });
  if (account.exitCode !== 0) {
    throw new Error(
      `the system user "${user}" does not exist; install the postgresql package (it creates it)`,
    );
  }
  const [uid, gid] = account.stdout.split(':').slice(2, 4).map(Number) as [number, number];

  const directory = await mkdtemp(join(tmpdir(), 'snapkeep-pg-'));
  const dataDirectory = join(directory, 'data');
  const socketDirectory = directory;
  const logFile = join(directory, 'server.log');
  let port = 0;
  let stopping: Promise<void> | undefined;

  /** A command as postgres, from a directory postgres can enter. */
  const asPostgres = (file: string, args: readonly string[], timeoutMs = 60_000): Promise<CommandResult> =>
    runCommand({ file: 'runuser', args: ['-u', user, '--', file, ...args], cwd: directory, timeoutMs });

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // Read the PID first: a successful pg_ctl stop removes postmaster.pid.
      const pid = await postmasterPid(dataDirectory);
      if (pid !== undefined && processAlive(pid)) {
        const stopped = await asPostgres(join(bin, 'pg_ctl'), [
          'stop',
          '-D',
          dataDirectory,
          '-m',
          'fast',
          '-w',
          '-t',
          '20',
        ]);
        if (stopped.exitCode !== 0 && processAlive(pid) && (await isOurPostmaster(pid, dataDirectory))) {
          // SIGQUIT is PostgreSQL's immediate shutdown: the postmaster takes its backends down too.
          signal(pid, 'SIGQUIT');
          if (!(await waitForExit(pid, 5_000))) signal(pid, 'SIGKILL');
          await waitForExit(pid, 5_000);
        }
      }
      await rm(directory, { recursive: true, force: true });
    })();
    return stopping;
  };

  const sql = async (database: string, query: string): Promise<string> => {
    const result = await runCommand({
      file: 'psql',
      args: ['-v', 'ON_ERROR_STOP=1', '-X', '-q', '-At', '-d', database],
      env: clientEnv({ host, port, user }),
      input: query,
      timeoutMs: 120_000,
    });
    if (result.exitCode !== 0) {
      throw new Error(
        `psql in database "${database}" failed (exit ${result.exitCode}): ${result.stderr.trim()}`,
      );
    }
    return result.stdout.replace(/\n$/, '');
  };

  try {
    // The cluster's files belong to postgres; its parent must be enterable by it (mkdtemp is 0700).
    await chown(directory, uid, gid);
    const init = await asPostgres(join(bin, 'initdb'), [
      '-D',
      dataDirectory,
      '-A',
      'trust',
      '--no-sync',
      '-U',
      user,
      // Explicit: we run with LC_ALL=C, which would otherwise give SQL_ASCII.
      '-E',
      'UTF8',
      '--locale=C',
    ]);
    if (init.exitCode !== 0) throw new Error(`initdb failed: ${init.stderr.trim() || init.stdout.trim()}`);

    // The free port can be taken by another run between probing and binding: retry on that only.
    for (let attempt = 1; ; attempt += 1) {
      port = await freePort();
      const options = [
        `-p ${port}`,
        `-k ${shellQuote(socketDirectory)}`,
        `-c listen_addresses=${host}`,
        // Throwaway data: durability only costs time here.
        '-c fsync=off',
        '-c synchronous_commit=off',
        '-c full_page_writes=off',
      ].join(' ');
      const logBefore = (await readFile(logFile, 'utf8').catch(() => '')).length;
      const started = await asPostgres(join(bin, 'pg_ctl'), [
        '-D',
        dataDirectory,
        '-o',
        options,
        '-w',
        '-t',
        '30',
        '-l',
        logFile,
        'start',
      ]);
      if (started.exitCode === 0) break;
      const log = (await readFile(logFile, 'utf8').catch(() => '')).slice(logBefore);
      if (attempt < 3 && /could not bind|address already in use/i.test(log)) continue;
      throw new Error(
        `pg_ctl start failed: ${started.stderr.trim() || started.stdout.trim()}\n${log.trim().split('\n').slice(-10).join('\n')}`,
      );
    }
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    host,
    port,
    socketDirectory,
    user,
    sql,
    async createDatabase(name) {
      await runChecked({
        file: 'psql',
        args: ['-v', 'ON_ERROR_STOP=1', '-X', '-q', '-d', 'postgres', '-v', `name=${name}`],
        env: clientEnv({ host, port, user }),
        // psql's :"name" quotes the identifier, so any name is safe.
        input: 'CREATE DATABASE :"name";\n',
        timeoutMs: 60_000,
      });
    },
    async tableDigests(database) {
      // Names come back already quoted by the server (format %I / %L), ready to splice into SQL.
      const listing = await sql(
        database,
        `SELECT coalesce(json_agg(json_build_array(
                  quote_literal(table_schema || '.' || table_name),
                  format('%I.%I', table_schema, table_name))
                ORDER BY table_schema, table_name), '[]')
           FROM information_schema.tables
          WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE';`,
      );
      const tables = JSON.parse(listing) as [string, string][];
      if (tables.length === 0) return {};
      const parts = tables.map(
        ([key, identifier]) =>
          `SELECT ${key}::text AS k, json_build_object('rows', count(*),
                  'checksum', coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), md5(''))) AS v
             FROM ${identifier} t`,
      );
      const result = await sql(
        database,
        `SELECT json_object_agg(k, v) FROM (${parts.join('\nUNION ALL\n')}) d;`,
      );
      const digests = JSON.parse(result) as Record<string, { rows: number; checksum: string }>;
      // Sorted keys: json_object_agg follows the plan's order, and diffs should read the same.
      return Object.fromEntries(Object.entries(digests).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    },
    stop,
  };
}

/**
 * Fill `database` with realistic data of roughly `megabytes` MB (heap size; indexes come on top):
 * users, posts with text, comments, attachments with bytea and jsonb, invoices numbered by a
 * sequence, plus foreign keys, an index and a view. Everything is generated server-side with
 * generate_series and is deterministic (md5 of the row number, no random()), so two fills of the
 * same size are identical. Values stay under ~2 kB so TOAST does not compress them away.
 */
export async function populateRealisticData(
  server: PostgresServer,
  database: string,
  megabytes: number,
): Promise<void> {
  const bytes = Math.max(1, megabytes) * 1024 * 1024;
  // Rough per-row sizes (heap, incl. tuple overhead) to split the budget across tables.
  const users = Math.max(10, Math.round((bytes * 0.05) / 150));
  const posts = Math.max(10, Math.round((bytes * 0.45) / 900));
  const comments = Math.max(10, Math.round((bytes * 0.25) / 300));
  const attachments = Math.max(10, Math.round((bytes * 0.2) / 900));
  const invoices = Math.max(10, Math.round((bytes * 0.05) / 80));
  await server.sql(
    database,
    `
BEGIN;
CREATE TABLE users (
  id bigint PRIMARY KEY GENERATED ALWAYS AS IDENTITY,
  email text NOT NULL UNIQUE,
  display_name text NOT NULL,
  created_at timestamptz NOT NULL,
  active boolean NOT NULL DEFAULT true
);
INSERT INTO users (email, display_name, created_at, active)
SELECT 'user' || i || '@example.org',
       initcap(substr(md5(i::text), 1, 8)) || ' Müller-' || i,
       timestamptz '2020-01-01 00:00:00+00' + i * interval '17 minutes',
       i % 13 <> 0
  FROM generate_series(1, ${users}) i;

CREATE TABLE posts (
  id bigserial PRIMARY KEY,
  user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  title text NOT NULL,
  body text NOT NULL,
  tags text[] NOT NULL DEFAULT '{}',
  published_at timestamptz
);
INSERT INTO posts (user_id, title, body, tags, published_at)
SELECT 1 + i % ${users},
       'Post ' || i || ': ' || substr(md5('title' || i), 1, 20),
       (SELECT string_agg(md5(i || ':' || j), ' ') FROM generate_series(1, 24) j),
       ARRAY['tag' || i % 7, 'tag' || i % 11],
       CASE WHEN i % 10 = 0 THEN NULL
            ELSE timestamptz '2021-06-01 12:00:00+00' + i * interval '41 minutes' END
  FROM generate_series(1, ${posts}) i;
CREATE INDEX posts_user_published_idx ON posts (user_id, published_at);

CREATE TABLE comments (
  id bigserial PRIMARY KEY,
  post_id bigint NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
  user_id bigint NOT NULL REFERENCES users (id),
  body text NOT NULL,
  created_at timestamptz NOT NULL
);
INSERT INTO comments (post_id, user_id, body, created_at)
SELECT 1 + i % ${posts}, 1 + (i * 7) % ${users},
       'Comment ' || i || ' — ' || md5('c' || i) || ' ' || md5('d' || i) || ' ' || md5('e' || i)
         || ' ' || md5('f' || i) || ' ' || md5('g' || i) || ' ' || md5('h' || i) || ' ' || md5('k' || i),
       timestamptz '2022-01-01 00:00:00+00' + i * interval '3 minutes'
  FROM generate_series(1, ${comments}) i;

CREATE TABLE attachments (
  id serial PRIMARY KEY,
  post_id bigint NOT NULL REFERENCES posts (id),
  file_name text NOT NULL,
  content bytea NOT NULL,
  metadata jsonb NOT NULL
);
INSERT INTO attachments (post_id, file_name, content, metadata)
SELECT 1 + (i * 3) % ${posts}, 'file-' || i || '.bin',
       (SELECT decode(string_agg(md5('a' || i || ':' || j), ''), 'hex') FROM generate_series(1, 48) j),
       jsonb_build_object('size', 768, 'mime', 'application/octet-stream',
                          'labels', jsonb_build_array('x' || i % 5, 'y' || i % 3),
                          'checksum', md5('a' || i), 'nested', jsonb_build_object('n', i, 'odd', i % 2 = 1))
  FROM generate_series(1, ${attachments}) i;

CREATE SEQUENCE invoice_number_seq START 100000 INCREMENT 7;
CREATE TABLE invoices (
  number bigint PRIMARY KEY DEFAULT nextval('invoice_number_seq'),
  user_id bigint NOT NULL REFERENCES users (id),
  amount numeric(12, 2) NOT NULL,
  issued_on date NOT NULL
);
ALTER SEQUENCE invoice_number_seq OWNED BY invoices.number;
INSERT INTO invoices (user_id, amount, issued_on)
SELECT 1 + i % ${users}, (i * 37 % 100000) / 100.0, date '2023-01-01' + i % 365
  FROM generate_series(1, ${invoices}) i;

CREATE VIEW user_activity AS
SELECT u.id, u.email, count(DISTINCT p.id) AS posts, count(c.id) AS comments
  FROM users u
  LEFT JOIN posts p ON p.user_id = u.id
  LEFT JOIN comments c ON c.post_id = p.id
 GROUP BY u.id, u.email;
COMMIT;
ANALYZE;
`,
  );
}
