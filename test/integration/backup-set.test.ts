// Backup sets into real restic (Debian's 0.14 and 0.18) from a real PostgreSQL on 127.0.0.1 and
// an uploads folder: two runs, then `restore app latest` into a scratch database and directory
// gives exactly the second run's rows, per-table checksums and files, and the first run by id
// gives the first run's; pg_dump killed mid-stream leaves no snapshot and no restore point; a
// wrong password is a clear configuration error.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/command.js';
import { snapkeep, events, expectExit } from '../helpers/cli.js';
import { useCleanups } from '../helpers/cleanups.js';
import { waitUntil } from '../helpers/processes.js';
import { treeChecksums } from '../helpers/btrfs-tree.js';
import { populateRealisticData, type PostgresServer } from '../helpers/postgres.js';
import type { ResticBinary } from '../helpers/restic-binaries.js';
import { startResticWorld, versionData, writeBackupSetConfig } from '../helpers/restic-world.js';
import type { ResticWorld } from '../helpers/restic-world.js';

let world: ResticWorld;
let postgres: PostgresServer;
const cleanups = useCleanups(afterAll);
const password = 'correct horse battery staple 0x5eed';
const pgPassword = 'pg-secret-4f1d9a';

beforeAll(async () => {
  world = await startResticWorld(cleanups, 'restic-set');
  postgres = world.postgres;
});

describe.each([0, 1])('backup set with restic #%i', (index) => {
  let binary: ResticBinary;
  let directory: string;
  let configPath: string;
  let uploads: string;
  let env: Record<string, string>;
  let database: string;

  beforeAll(async () => {
    binary = world.binaries[index]!;
    ({ directory, database, uploads } = await versionData(world, binary, {
      databasePrefix: 'app',
      scale: 5,
      uploads: join('srv', 'app', 'uploads'),
      fileMiB: 3,
      filePrefix: 'photo',
    }));
    await mkdir(join(uploads, 'nested', 'deeper'), { recursive: true });
    await writeFile(join(uploads, 'nested', 'deeper', 'note.txt'), 'hello\n');
    const passwordFile = join(directory, 'password');
    await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
    configPath = await writeBackupSetConfig({
      directory,
      local: { password: `file:${passwordFile}` },
      postgres,
      database,
      databasePassword: 'env:TEST_PG_PASSWORD',
      files: { name: 'uploads', path: uploads },
      set: {
        name: 'app',
        more: {
          restore: {
            stop: `[[mkdir, ${join(directory, 'app-stopped')}]]`,
            start: `[[rmdir, ${join(directory, 'app-stopped')}], [touch, ${join(directory, 'app-started')}]]`,
          },
        },
      },
    });
    // Every process snapkeep starts (restic, pg_dump, psql, createdb, pg_restore) goes through a
    // wrapper that records its argv, so the test can show no secret ever reached a command line.
    const wrappers = join(directory, 'bin');
    await mkdir(wrappers, { recursive: true });
    const wrap = async (name: string, real: string): Promise<void> => {
      await writeFile(
        join(wrappers, name),
        `#!/bin/sh\nprintf '%s\\n' "${name} $*" >> '${join(wrappers, 'argv.log')}'\nexec '${real}' "$@"\n`,
        { mode: 0o755 },
      );
    };
    await wrap('restic', binary.path);
    for (const tool of ['pg_dump', 'psql', 'createdb', 'pg_restore'])
      await wrap(tool, (await runCommand({ file: 'sh', args: ['-c', `command -v ${tool}`] })).stdout.trim());
    env = {
      SNAPKEEP_RESTIC: join(wrappers, 'restic'),
      SNAPKEEP_CACHE_DIR: join(directory, 'cache'),
      PATH: `${wrappers}:${process.env.PATH ?? ''}`,
      // The server trusts local connections; the password is configured to show it never leaks.
      TEST_PG_PASSWORD: pgPassword,
    };
  });

  it(`restic ${index === 0 ? '0.14' : '0.18'}: two runs; latest and a run by id restore exactly what each captured`, async () => {
    expect(binary.version).toMatch(index === 0 ? /^0\.14\./ : /^0\.18\./);
    const dry = await snapkeep(['backup', '--dry-run', '--config', configPath], { env });
    expectExit(dry, 0);
    expect(dry.stdout).toMatch(/would be created/);
    expect(dry.stdout).toMatch(new RegExp(`would stream pg_dump of database ${database}`));

    const first = await snapkeep(['backup', '--json', '--config', configPath], { env });
    expectExit(first, 0);
    const firstRun = events(first.stdout).find((event) => event.type === 'set')!.run as string;
    const firstDigests = await postgres.tableDigests(database);
    const firstFiles = await treeChecksums(uploads);

    // Change both halves: a restore must bring back the database and files of ONE run.
    await postgres.sql(
      database,
      "UPDATE users SET display_name = display_name || ' (edited)' WHERE id % 7 = 0; DELETE FROM comments WHERE id % 5 = 0;",
    );
    await appendFile(join(uploads, 'photo-0.bin'), 'changed after run one');
    await writeFile(join(uploads, 'new.txt'), 'added in run two\n');
    const second = await snapkeep(['backup', '--json', '--config', configPath], { env });
    expectExit(second, 0);
    const secondDigests = await postgres.tableDigests(database);
    const secondFiles = await treeChecksums(uploads);
    expect(secondDigests).not.toEqual(firstDigests);

    const list = await snapkeep(['restore', 'app', '--json', '--config', configPath], { env });
    expectExit(list, 0);
    expect(events(list.stdout).filter((event) => event.type === 'restore-point')).toHaveLength(2);
    // `list` shows the same points (this config has no subvolumes: only the sets' table).
    const listed = await snapkeep(['list', 'app', '--config', configPath], { env });
    expectExit(listed, 0);
    expect(listed.stdout).toMatch(
      new RegExp(`^BACKUP SET +RUN +DATE \\(UTC\\) +REPOSITORY\n(app +\\S+ +[-0-9: ]+ +local\n){2}`),
    );
    const unknown = await snapkeep(['list', 'nope', '--config', configPath], { env });
    expectExit(unknown, 2);
    expect(unknown.stderr).toMatch(/unknown subvolume or backup set "nope"; the config defines: app/);

    const scratch = join(directory, 'scratch-latest');
    const restored = await snapkeep(
      [
        'restore',
        'app',
        'latest',
        '--to',
        scratch,
        '--database',
        `${database}=${database}_latest`,
        '--config',
        configPath,
      ],
      { env },
    );
    expectExit(restored, 0);
    expect(await postgres.tableDigests(`${database}_latest`)).toEqual(secondDigests);
    expect(await treeChecksums(join(scratch, uploads))).toEqual(secondFiles);

    const older = join(directory, 'scratch-first');
    const byRun = await snapkeep(
      [
        'restore',
        'app',
        firstRun,
        '--to',
        older,
        '--database',
        `${database}=${database}_first`,
        '--config',
        configPath,
      ],
      { env },
    );
    expectExit(byRun, 0);
    expect(await postgres.tableDigests(`${database}_first`)).toEqual(firstDigests);
    expect(await treeChecksums(join(older, uploads))).toEqual(firstFiles);

    expect(existsSync(join(directory, 'app-started'))).toBe(false);
    // Over the live data, when asked: files in place need --yes, the database --force.
    await writeFile(join(uploads, 'new.txt'), 'overwritten later\n');
    await postgres.sql(database, 'DELETE FROM invoices;');
    const inPlace = await snapkeep(['restore', 'app', 'latest', '--force', '--config', configPath], { env });
    expectExit(inPlace, 2);
    expect(inPlace.stderr).toMatch(
      /is not empty; restic would overwrite files there\. Use --to DIR .* or --yes/,
    );
    const forced = await snapkeep(['restore', 'app', 'latest', '--force', '--yes', '--config', configPath], {
      env,
    });
    expectExit(forced, 0);
    // The app's services were stopped around the restore over live data (rmdir fails unless the
    // stop ran first) and not around the restores elsewhere above.
    expect(forced.stdout).toMatch(
      /ok {3}stop: mkdir .*\n(.*\n)*ok {3}restored (.*\n)*ok {3}start: rmdir .*\nok {3}start: touch /,
    );
    expect(existsSync(join(directory, 'app-started'))).toBe(true);
    expect(existsSync(join(directory, 'app-stopped'))).toBe(false);
    expect(forced.stdout).toMatch(
      new RegExp(`restore database ${database} → ${database} \\(exists: --clean in one transaction\\)`),
    );
    expect(await postgres.tableDigests(database)).toEqual(secondDigests);
    expect(await treeChecksums(uploads)).toEqual(secondFiles);

    // Never over an existing database without --force, and nothing changes.
    const refused = await snapkeep(
      ['restore', 'app', 'latest', '--to', join(directory, 'x'), '--config', configPath],
      { env },
    );
    expectExit(refused, 2);
    expect(refused.stderr).toMatch(
      new RegExp(
        `database ${database} exists; restore into a new one with --database OLD=NEW, or over it with --force`,
      ),
    );
    expect(await postgres.tableDigests(database)).toEqual(secondDigests);
    // The dry run of that command says the same, before any plan: no plan lines, then exit 2.
    const refusedDry = await snapkeep(['restore', 'app', 'latest', '--dry-run', '--config', configPath], {
      env,
    });
    expectExit(refusedDry, 2);
    expect(refusedDry.stdout).toBe('');
    expect(refusedDry.stderr).toMatch(new RegExp(`database ${database} exists; .* --force`));

    // The secrets never show: not in any output of these commands, not in the journal, not on the
    // command line of any process snapkeep started (the wrappers recorded every argv).
    const journal = await readFile(join(directory, 'state', 'journal.ndjson'), 'utf8');
    expect(journal).toMatch(/"event":"run-end","command":"backup"/);
    const argv = await readFile(join(directory, 'bin', 'argv.log'), 'utf8');
    expect(argv).toMatch(/^restic .*backup/m);
    expect(argv).toMatch(/^(pg_dump|restic .*--stdin-from-command .*pg_dump) /m);
    expect(argv).toMatch(/^pg_restore /m);
    for (const text of [dry, first, second, list, restored, byRun, inPlace, forced, refused, refusedDry]
      .flatMap((result) => [result.stdout, result.stderr])
      .concat(journal, argv)) {
      expect(text).not.toContain(password);
      expect(text).not.toContain(pgPassword);
    }
  });

  it('pg_dump killed mid-stream: no snapshot kept, no restore point, exit non-zero, the error names the database', async () => {
    const big = `${database}_big`;
    await postgres.createDatabase(big);
    await populateRealisticData(postgres, big, 60);
    const bigConfig = (await readFile(configPath, 'utf8')).replace(
      `databases: [${database}]`,
      `databases: [${big}]`,
    );
    const bigPath = join(directory, 'big.yaml');
    await writeFile(bigPath, bigConfig);
    const before = await snapkeep(['restore', 'app', '--json', '--config', bigPath], { env });
    const pointsBefore = events(before.stdout).filter((event) => event.type === 'restore-point').length;

    const running = snapkeep(['backup', '--json', '--config', bigPath], { env });
    let killed = false;
    const deadline = Date.now() + 30_000;
    while (!killed && Date.now() < deadline) {
      const ps = await runCommand({ file: 'ps', args: ['-eo', 'pid=,args='] });
      const line = ps.stdout
        .split('\n')
        .find((entry) => entry.includes('pg_dump') && entry.includes(big) && !entry.includes('restic'));
      if (line) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        process.kill(Number(line.trim().split(/\s+/)[0]), 'SIGKILL');
        killed = true;
      } else await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(killed).toBe(true);
    const failed = await running;
    expect(failed.exitCode).not.toBe(0);
    expect(failed.stderr).toMatch(new RegExp(`pg_dump of database ${big}`));
    expect(failed.stderr).toMatch(/no snapshot was kept/);

    const snapshots = await runCommand({
      file: binary.path,
      args: ['snapshots', '--json', '--tag', 'snapkeep-source=database'],
      env: { RESTIC_REPOSITORY: join(directory, 'repo'), RESTIC_PASSWORD: password },
    });
    expect(snapshots.exitCode, snapshots.stderr).toBe(0);
    const paths = (JSON.parse(snapshots.stdout) as { paths: string[] }[]).flatMap(
      (snapshot) => snapshot.paths,
    );
    expect(paths.some((path) => path.includes(`${big}.pgdump`))).toBe(false);
    const after = await snapkeep(['restore', 'app', '--json', '--config', bigPath], { env });
    expect(events(after.stdout).filter((event) => event.type === 'restore-point').length).toBe(pointsBefore);
  });

  it('a database that does not exist: exit non-zero, the error names it, no snapshot kept (restic, started while the snapshot was being exported, is stopped)', async () => {
    const missing = `${database}_missing`;
    const missingPath = join(directory, 'missing.yaml');
    await writeFile(
      missingPath,
      (await readFile(configPath, 'utf8')).replace(`databases: [${database}]`, `databases: [${missing}]`),
    );
    const result = await snapkeep(['backup', '--config', missingPath], { env });
    expect(result.exitCode).not.toBe(0);
    expect(result.stderr).toContain(`database "${missing}" does not exist`);
    const snapshots = await runCommand({
      file: binary.path,
      args: ['snapshots', '--json', '--tag', `snapkeep-database=${missing}`],
      env: { RESTIC_REPOSITORY: join(directory, 'repo'), RESTIC_PASSWORD: password },
    });
    expect(snapshots.exitCode, snapshots.stderr).toBe(0);
    expect(JSON.parse(snapshots.stdout)).toEqual([]);
  });

  it('a wrong password is a clear configuration error (exit 2) that names the key', async () => {
    const wrong = join(directory, 'wrong-password');
    await writeFile(wrong, 'not the password\n');
    const wrongPath = join(directory, 'wrong.yaml');
    await writeFile(
      wrongPath,
      (await readFile(configPath, 'utf8')).replace(/password: file:.*/, `password: file:${wrong}`),
    );
    const result = await snapkeep(['backup', '--config', wrongPath], { env });
    expectExit(result, 2);
    expect(result.stderr).toMatch(
      /wrong password for repository local .*check repositories\.local\.password/,
    );
  });

  it('a lock left by a killed restic does not stop verify for good; a live restic holding one still does (0.14: check is exclusive)', async () => {
    // A restic backup that holds its lock while it waits for its input.
    const holder = spawn(binary.path, ['backup', '--stdin', '--stdin-filename', 'held'], {
      env: { ...process.env, RESTIC_REPOSITORY: join(directory, 'repo'), RESTIC_PASSWORD: password },
      stdio: ['pipe', 'ignore', 'ignore'],
    });
    const closed = new Promise((resolve) => holder.once('close', resolve));
    const locks = join(directory, 'repo', 'locks');
    // A lock file has a 64-hex name (a name with -tmp- is one being written by the local backend).
    const lockFiles = async (): Promise<string[]> =>
      (await readdir(locks)).filter((name) => /^[0-9a-f]{64}$/.test(name));
    await waitUntil('the lock of the holding restic', async () => (await lockFiles()).length > 0);
    if (index === 0) {
      const live = await snapkeep(['verify', '--parts', '1', '--config', configPath], { env });
      expectExit(live, 11);
      expect(live.stderr).toMatch(/is locked by another restic process/);
    }
    holder.kill('SIGKILL');
    await closed;
    expect((await lockFiles()).length).toBeGreaterThan(0); // the killed restic's lock is left behind
    const after = await snapkeep(['verify', '--parts', '1', '--config', configPath], { env });
    expectExit(after, 0);
    expect(await lockFiles()).toEqual([]);
  });

  it('verify reads a different part each run, the whole over N runs; a damaged pack fails it', async () => {
    const first = await snapkeep(['verify', '--parts', '2', '--json', '--config', configPath], { env });
    expectExit(first, 0);
    const second = await snapkeep(['verify', '--parts', '2', '--json', '--config', configPath], { env });
    expectExit(second, 0);
    const subsets = [first, second].map(
      (result) => events(result.stdout).find((event) => event.type === 'check')!.subset,
    );
    expect(subsets).toEqual(['1/2', '2/2']);
    const state = JSON.parse(await readFile(join(directory, 'state', 'verify.json'), 'utf8')) as Record<
      string,
      { nextPart: number; lastFullReadAt?: string }
    >;
    expect(state.local).toMatchObject({ nextPart: 1 });
    expect(state.local!.lastFullReadAt).toBeDefined();

    // The drill: the latest run restored into scratch, every table equal to what was dumped.
    const drill = await snapkeep(['verify', '--parts', '2', '--drill', '--config', configPath], { env });
    expectExit(drill, 0);
    expect(drill.stdout).toMatch(
      new RegExp(
        `ok {3}app@local: drill: database ${database} of run \\S+: \\d+ tables, \\d+ rows, every row count and checksum equal to the dump's`,
      ),
    );
    expect(drill.stdout).toMatch(/ok {3}app@local: drill: \S+uploads restored under/);
    // The files were read back against the backup's content hashes, not just written.
    expect(await readFile(join(directory, 'bin', 'argv.log'), 'utf8')).toMatch(
      /^restic .*restore \S+ --target \S+drill-app-\S+ --include \S+ --verify$/m,
    );
    expect(
      await postgres.sql(
        'postgres',
        "SELECT count(*) FROM pg_database WHERE datname LIKE 'snapkeep_drill_%'",
      ),
    ).toBe('0');
    // A recorded checksum that does not match what comes back fails the drill.
    const recorded = (await readdir(join(directory, 'state', 'checksums', 'app'))).sort().at(-1)!;
    const recordedPath = join(directory, 'state', 'checksums', 'app', recorded);
    const checksums = JSON.parse(await readFile(recordedPath, 'utf8')) as Record<
      string,
      Record<string, { rows: number; method: string }>
    >;
    // Tables of hashable column types are hashed per column, others (posts has text[]) as text.
    expect(checksums[database]!['public.users']!.method).toBe('record');
    expect(checksums[database]!['public.posts']!.method).toBe('text');
    checksums[database]!['public.users']!.rows += 1;
    await writeFile(recordedPath, JSON.stringify(checksums));
    const mismatch = await snapkeep(['verify', '--parts', '2', '--drill', '--config', configPath], { env });
    expectExit(mismatch, 3);
    expect(mismatch.stdout).toMatch(
      new RegExp(
        `FAIL app@local: drill: database ${database} of run \\S+ differs from what was dumped in: public\\.users`,
      ),
    );

    // Damage one data pack: overwrite its middle (same size). A truncated pack would do too, but
    // restic 0.14 retries reading past its new end with backoff for ~90 s before it gives up.
    const packs = (
      await runCommand({ file: 'find', args: [join(directory, 'repo', 'data'), '-type', 'f'] })
    ).stdout
      .trim()
      .split('\n');
    const victim = packs.sort()[0]!;
    const { open, stat } = await import('node:fs/promises');
    const size = (await stat(victim)).size;
    const handle = await open(victim, 'r+');
    await handle.write(
      Buffer.alloc(Math.min(4096, Math.floor(size / 2)), 0x5a),
      0,
      undefined,
      Math.floor(size / 4),
    );
    await handle.close();
    expect((await stat(victim)).size).toBe(size);
    const damaged = await snapkeep(['verify', '--parts', '1', '--config', configPath], { env });
    expectExit(damaged, 3);
    expect(damaged.stdout).toMatch(/FAIL local: check: restic failed on repository local/);
  });
});
