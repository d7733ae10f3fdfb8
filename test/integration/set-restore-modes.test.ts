// Restoring part of a backup set, point in time, and drilling from an offsite, with real restic
// (0.14 and 0.18) and a real PostgreSQL: `--only` restores one source and leaves the other's data
// as it was (content and mtimes); the default merge keeps a file created after the backup and
// says so, `--exact` moves it aside (content intact) so the folder is the run's again, and its dry
// run touches nothing; `verify --drill --from offsite` reads the offsite only (the primary is
// moved away meanwhile) and its events and journal line name it.
import { existsSync } from 'node:fs';
import { appendFile, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/command.js';
import { snapkeep, events, expectExit } from '../helpers/cli.js';
import { useCleanups } from '../helpers/cleanups.js';
import { treeChecksums } from '../helpers/btrfs-tree.js';
import type { PostgresServer } from '../helpers/postgres.js';
import type { ResticBinary } from '../helpers/restic-binaries.js';
import { startResticWorld, versionData, writeBackupSetConfig } from '../helpers/restic-world.js';
import type { ResticWorld } from '../helpers/restic-world.js';

let world: ResticWorld;
let postgres: PostgresServer;
const cleanups = useCleanups(afterAll);

beforeAll(async () => {
  world = await startResticWorld(cleanups, 'restic-set-modes');
  postgres = world.postgres;
});

/** Every entry under root with its kind, size, mode and mtime (find -printf): what "untouched" means. */
async function treeListing(root: string): Promise<string> {
  const result = await runCommand({ file: 'find', args: [root, '-printf', '%P %y %s %m %T@\n'] });
  expect(result.exitCode, result.stderr).toBe(0);
  return result.stdout.split('\n').sort().join('\n');
}

/** Relative paths of every entry (directories too) under root. */
async function pathsUnder(root: string): Promise<string[]> {
  const result = await runCommand({ file: 'find', args: [root, '-mindepth', '1', '-printf', '%P %y\n'] });
  return result.stdout.split('\n').filter(Boolean).sort();
}

describe.each([0, 1])('backup-set restore modes with restic #%i', (index) => {
  let binary: ResticBinary;
  let directory: string;
  let configPath: string;
  let uploads: string;
  let database: string;
  let env: Record<string, string>;
  /** At the backup: the database's digests, the folder's files and every path in it. */
  let backedUpDigests: Awaited<ReturnType<PostgresServer['tableDigests']>>;
  let backedUpFiles: Record<string, string>;
  let backedUpPaths: string[];

  beforeAll(async () => {
    binary = world.binaries[index]!;
    ({ directory, database, uploads } = await versionData(world, binary, {
      databasePrefix: 'modes',
      scale: 2,
      uploads: join('srv', 'uploads'),
      fileMiB: 1,
      filePrefix: 'photo',
    }));
    await mkdir(join(uploads, 'albums', 'empty'), { recursive: true });
    await writeFile(join(uploads, 'albums', 'cover.txt'), 'cover\n');
    await writeFile(join(directory, 'password'), 'modes repository password\n', { mode: 0o600 });
    configPath = await writeBackupSetConfig({
      directory,
      local: { password: `file:${join(directory, 'password')}` },
      repositories: {
        offsite: { url: join(directory, 'offsite-repo'), password: `file:${join(directory, 'password')}` },
      },
      postgres,
      database,
      files: { name: 'uploads', path: uploads },
      set: { name: 'app', offsite: ['offsite'] },
    });
    env = { SNAPKEEP_RESTIC: binary.path, SNAPKEEP_CACHE_DIR: join(directory, 'cache') };
    const backup = await snapkeep(['backup', '--json', '--config', configPath], { env });
    expectExit(backup, 0);
    expect(events(backup.stdout).filter((event) => event.type === 'offsite')[0]).toMatchObject({
      repository: 'offsite',
      ok: true,
    });
    backedUpDigests = await postgres.tableDigests(database);
    backedUpFiles = await treeChecksums(uploads);
    backedUpPaths = await pathsUnder(uploads);
  });

  it(`restic ${index === 0 ? '0.14' : '0.18'}: --only restores one source and leaves the other as it is; an unknown source is exit 2 with nothing touched`, async () => {
    expect(binary.version).toMatch(index === 0 ? /^0\.14\./ : /^0\.18\./);
    await postgres.sql(
      database,
      "UPDATE users SET display_name = display_name || ' (later)' WHERE id % 3 = 0;",
    );
    await appendFile(join(uploads, 'photo-0.bin'), 'changed after the backup');
    const changedDigests = await postgres.tableDigests(database);
    expect(changedDigests).not.toEqual(backedUpDigests);

    const before = await treeListing(dirname(uploads));
    const unknown = await snapkeep(
      ['restore', 'app', 'latest', '--only', 'nope', '--force', '--yes', '--config', configPath],
      { env },
    );
    expectExit(unknown, 2);
    expect(unknown.stderr).toMatch(
      /--only nope: backup set app has no source "nope"; its sources: database, uploads/,
    );
    expect(unknown.stdout).toBe('');
    const comma = await snapkeep(
      ['restore', 'app', 'latest', '--only', 'database,uploads', '--force', '--yes', '--config', configPath],
      { env },
    );
    expectExit(comma, 2);
    expect(comma.stderr).toMatch(
      /--only database,uploads: backup set app has no source "database,uploads"; its sources: database, uploads \(for more than one, repeat --only\)/,
    );
    expect(await treeListing(dirname(uploads))).toBe(before);
    expect(await postgres.tableDigests(database)).toEqual(changedDigests);

    // Only the folder: the database keeps its later rows (without --only its restore would need --force).
    const folder = await snapkeep(
      ['restore', 'app', 'latest', '--only', 'uploads', '--yes', '--json', '--config', configPath],
      {
        env,
      },
    );
    expectExit(folder, 0);
    const plan = events(folder.stdout).find((event) => event.type === 'plan')!;
    expect(plan).toMatchObject({ only: ['uploads'], mode: 'merge' });
    expect((plan.steps as { kind: string }[]).map((step) => step.kind)).toEqual(['files']);
    expect(await treeChecksums(uploads)).toEqual(backedUpFiles);
    expect(await postgres.tableDigests(database)).toEqual(changedDigests);

    // Only the database: the folder, changed again, keeps its content and every mtime.
    await appendFile(join(uploads, 'photo-0.bin'), 'changed again');
    const folderNow = await treeListing(uploads);
    const filesNow = await treeChecksums(uploads);
    const data = await snapkeep(
      ['restore', 'app', 'latest', '--only', 'database', '--force', '--config', configPath],
      {
        env,
      },
    );
    expectExit(data, 0);
    expect(data.stdout).toMatch(/^ {2}only: database \(the other sources are not touched\)$/m);
    expect(data.stdout).not.toMatch(/restore \/\S+uploads/);
    expect(await postgres.tableDigests(database)).toEqual(backedUpDigests);
    expect(await treeListing(uploads)).toBe(folderNow);
    expect(await treeChecksums(uploads)).toEqual(filesNow);
  });

  it('merge (the default) keeps a file created after the backup and says so; --exact moves it aside, content intact, and the folder is the run again; the dry run touches nothing', async () => {
    await writeFile(join(uploads, 'late.txt'), 'written after the backup\n');
    await mkdir(join(uploads, 'albums', 'late-album'));
    await writeFile(join(uploads, 'albums', 'late-album', 'p.txt'), 'a later album\n');
    await appendFile(join(uploads, 'photo-0.bin'), 'changed after the backup');
    const notInRun = ['albums/late-album', 'late.txt'];

    // The dry run lists what would move and changes nothing: not the folder, not beside it.
    const before = await treeListing(dirname(uploads));
    const dry = await snapkeep(
      ['restore', 'app', 'latest', '--only', 'uploads', '--exact', '--dry-run', '--config', configPath],
      { env },
    );
    expectExit(dry, 0);
    expect(dry.stdout).toMatch(/^ {2}mode: exact — what is at a target and not in the run is moved aside/m);
    expect(dry.stdout).toMatch(
      new RegExp(
        `would restore ${uploads} → ${uploads} \\(overwrites files there; 2 not in the run: moved aside to ${uploads}\\.snapkeep-moved-\\d{8}T\\d{6}Z\\)`,
      ),
    );
    expect(dry.stdout).toMatch(
      /^ {4}would move aside: albums\/late-album\n {4}would move aside: late\.txt$/m,
    );
    const dryJson = await snapkeep(
      [
        'restore',
        'app',
        'latest',
        '--only',
        'uploads',
        '--exact',
        '--dry-run',
        '--json',
        '--config',
        configPath,
      ],
      { env },
    );
    expectExit(dryJson, 0);
    const dryPlan = events(dryJson.stdout).find((event) => event.type === 'plan')!;
    expect(dryPlan).toMatchObject({ mode: 'exact', dryRun: true, steps: [{ kind: 'files', notInRun }] });
    expect(events(dryJson.stdout).some((event) => event.type === 'moved-aside')).toBe(false);
    expect(await treeListing(dirname(uploads))).toBe(before);

    // Merge: the run's files come back, the later ones stay, and the output says so.
    const merged = await snapkeep(
      ['restore', 'app', 'latest', '--only', 'uploads', '--yes', '--config', configPath],
      {
        env,
      },
    );
    expectExit(merged, 0);
    expect(merged.stdout).toMatch(/^ {2}mode: merge — files at a target that are not in the run stay there/m);
    expect(merged.stdout).toMatch(/\(overwrites files there; 2 not in the run: they stay\)/);
    expect(await readFile(join(uploads, 'late.txt'), 'utf8')).toBe('written after the backup\n');
    const mergedFiles = await treeChecksums(uploads);
    expect(Object.keys(mergedFiles).sort()).toEqual(
      [...Object.keys(backedUpFiles), 'albums/late-album/p.txt', 'late.txt'].sort(),
    );
    expect(mergedFiles['photo-0.bin']).toBe(backedUpFiles['photo-0.bin']);

    // Exact: moved aside beside the folder (relative paths kept), then the run restored.
    const exact = await snapkeep(
      ['restore', 'app', 'latest', '--only', 'uploads', '--exact', '--yes', '--json', '--config', configPath],
      { env },
    );
    expectExit(exact, 0);
    const moved = events(exact.stdout).filter((event) => event.type === 'moved-aside');
    expect(moved).toHaveLength(1);
    expect(moved[0]).toMatchObject({ target: uploads, count: 2, paths: notInRun });
    const aside = moved[0]!.directory as string;
    expect(aside).toMatch(new RegExp(`^${uploads}\\.snapkeep-moved-\\d{8}T\\d{6}Z$`));
    expect(await readFile(join(aside, 'late.txt'), 'utf8')).toBe('written after the backup\n');
    expect(await readFile(join(aside, 'albums', 'late-album', 'p.txt'), 'utf8')).toBe('a later album\n');
    expect(await pathsUnder(aside)).toEqual([
      'albums d',
      'albums/late-album d',
      'albums/late-album/p.txt f',
      'late.txt f',
    ]);
    expect(await treeChecksums(uploads)).toEqual(backedUpFiles);
    expect(await pathsUnder(uploads)).toEqual(backedUpPaths);

    // In text: which mode, how many were moved and where; the journal has the step.
    await writeFile(join(uploads, 'later-still.txt'), 'one more\n');
    const text = await snapkeep(
      ['restore', 'app', 'latest', '--only', 'uploads', '--exact', '--yes', '--config', configPath],
      {
        env,
      },
    );
    expectExit(text, 0);
    expect(text.stdout).toMatch(/^ {2}mode: exact/m);
    const line = new RegExp(
      `^ok {3}moved aside 1 not in the run: ${uploads} → (${uploads}\\.snapkeep-moved-\\S+)$`,
      'm',
    ).exec(text.stdout);
    expect(line).not.toBeNull();
    expect(await readFile(join(line![1]!, 'later-still.txt'), 'utf8')).toBe('one more\n');
    expect(await pathsUnder(uploads)).toEqual(backedUpPaths);
    const journal = await readFile(join(directory, 'state', 'journal.ndjson'), 'utf8');
    expect(journal).toMatch(/"kind":"restore-move-aside".*"ok":true/);
  });

  it('verify --drill --from offsite restores from the offsite (the primary moved away meanwhile); its events and journal line name it', async () => {
    const unknown = await snapkeep(['verify', 'app', '--drill', '--from', 'nope', '--config', configPath], {
      env,
    });
    expectExit(unknown, 2);
    expect(unknown.stderr).toMatch(
      /--from nope: not a repository of backup set app; its repositories: local, offsite/,
    );

    const primary = join(directory, 'repo');
    await rename(primary, `${primary}.away`);
    try {
      // Without --from the drill reads the primary, which is gone: the ground truth of the test.
      const own = await snapkeep(['verify', 'app', '--drill', '--parts', '1', '--config', configPath], {
        env,
      });
      expect(own.exitCode).not.toBe(0);

      const drill = await snapkeep(
        ['verify', 'app', '--drill', '--from', 'offsite', '--parts', '1', '--json', '--config', configPath],
        { env },
      );
      expectExit(drill, 0);
      const found = events(drill.stdout);
      expect(found.filter((event) => event.type === 'check').map((event) => event.repository)).toEqual([
        'offsite',
      ]);
      const drills = found.filter((event) => event.type === 'drill');
      expect(drills.length).toBe(2); // the database and the folder
      for (const event of drills)
        expect(event).toMatchObject({ kind: 'restic', set: 'app', repository: 'offsite', ok: true });
      expect(drills.find((event) => event.database === database)).toMatchObject({
        compared: true,
        differing: [],
      });

      const text = await snapkeep(
        ['verify', 'app', '--drill', '--from', 'offsite', '--parts', '1', '--config', configPath],
        {
          env,
        },
      );
      expectExit(text, 0);
      expect(text.stdout).toMatch(
        new RegExp(
          `^ok {3}app@offsite: drill: database ${database} of run \\S+: .*every row count and checksum equal to the dump's$`,
          'm',
        ),
      );
      const dry = await snapkeep(
        ['verify', 'app', '--drill', '--from', 'offsite', '--dry-run', '--config', configPath],
        {
          env,
        },
      );
      expectExit(dry, 0);
      expect(dry.stdout).toMatch(/^would drill app: restore its latest run from offsite /m);
      expect(dry.stdout).not.toMatch(/would check local/);
    } finally {
      await rename(`${primary}.away`, primary);
    }
    const drillLines = (await readFile(join(directory, 'state', 'journal.ndjson'), 'utf8'))
      .split('\n')
      .filter((entry) => entry.includes('"event":"drill"'))
      .map((entry) => JSON.parse(entry) as Record<string, unknown>);
    expect(drillLines.slice(-2)).toEqual([
      expect.objectContaining({ set: 'app', ok: true, repository: 'offsite' }),
      expect.objectContaining({ set: 'app', ok: true, repository: 'offsite' }),
    ]);
    // The scratch of the drills is gone.
    expect((await readdir(join(directory, 'state'))).filter((name) => name.startsWith('drill-'))).toEqual([]);
    expect(existsSync(`${primary}.away`)).toBe(false);
  });
});
