// Offsite copies to an append-only REST server (`rclone serve restic --append-only`, basic auth)
// with restic 0.14 and 0.18: the run is copied and compared snapshot by snapshot, restores from
// the offsite copy are identical, and an offsite that is down fails with exit 10 while the local
// backup is kept as a restore point. The REST password never shows in any output or the journal.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapkeep, events, expectExit } from '../helpers/cli.js';
import { useCleanups } from '../helpers/cleanups.js';
import { treeChecksums } from '../helpers/btrfs-tree.js';
import type { PostgresServer } from '../helpers/postgres.js';
import { startRestServer, type RestServer } from '../helpers/rclone-rest.js';
import type { ResticBinary } from '../helpers/restic-binaries.js';
import { startResticWorld, versionData, writeBackupSetConfig } from '../helpers/restic-world.js';
import type { ResticWorld } from '../helpers/restic-world.js';

let world: ResticWorld;
let postgres: PostgresServer;
const cleanups = useCleanups(afterAll);

beforeAll(async () => {
  world = await startResticWorld(cleanups, 'offsite');
  postgres = world.postgres;
});

describe.each([0, 1])('offsite copy with restic #%i', (index) => {
  let rest: RestServer;
  let binary: ResticBinary;
  let directory: string;
  let configPath: string;
  let uploads: string;
  let database: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    binary = world.binaries[index]!;
    rest = await startRestServer();
    ({ directory, database, uploads } = await versionData(world, binary, {
      databasePrefix: 'shop',
      scale: 2,
      uploads: 'uploads',
      fileMiB: 2,
      filePrefix: 'invoice',
    }));
    await writeFile(join(directory, 'password'), 'local repository password\n');
    configPath = await writeBackupSetConfig({
      directory,
      local: { password: `file:${join(directory, 'password')}`, retention: '{ keep_last: 1 }' },
      repositories: {
        offsite: {
          url: rest.url,
          password: 'env:TEST_OFFSITE_PASSWORD',
          env: {
            RESTIC_REST_USERNAME: 'env:TEST_REST_USER',
            RESTIC_REST_PASSWORD: 'env:TEST_REST_PASSWORD',
          },
          append_only: true,
          retention: '{ keep_within: 30d }',
        },
      },
      postgres,
      database,
      files: { name: 'uploads', path: uploads },
      set: { name: 'shop', offsite: ['offsite'] },
    });
    env = {
      SNAPKEEP_RESTIC: binary.path,
      SNAPKEEP_CACHE_DIR: join(directory, 'cache'),
      TEST_OFFSITE_PASSWORD: 'offsite repository password',
      TEST_REST_USER: rest.user,
      TEST_REST_PASSWORD: rest.password,
    };
  });

  afterAll(async () => {
    await rest?.cleanup();
  });

  it(`restic ${index === 0 ? '0.14' : '0.18'}: copies the run, every snapshot is there, and a restore from the copy is identical`, async () => {
    const backup = await snapkeep(['backup', '--json', '--config', configPath], { env });
    expectExit(backup, 0);
    const offsite = events(backup.stdout).filter((event) => event.type === 'offsite');
    expect(offsite).toHaveLength(1);
    expect(offsite[0]).toMatchObject({ repository: 'offsite', ok: true, present: 2, missing: [] });

    const digests = await postgres.tableDigests(database);
    const files = await treeChecksums(uploads);
    const scratch = join(directory, 'from-offsite');
    const restored = await snapkeep(
      [
        'restore',
        'shop',
        'latest',
        '--from',
        'offsite',
        '--to',
        scratch,
        '--database',
        `${database}=${database}_offsite`,
        '--config',
        configPath,
      ],
      { env },
    );
    expectExit(restored, 0);
    expect(await postgres.tableDigests(`${database}_offsite`)).toEqual(digests);
    expect(await treeChecksums(join(scratch, uploads))).toEqual(files);

    const journal = await readFile(join(directory, 'state', 'journal.ndjson'), 'utf8');
    for (const text of [backup.stdout, backup.stderr, restored.stdout, restored.stderr, journal])
      expect(text).not.toContain(rest.password);
  });

  it('an offsite that is down: exit 10, a clear message, and the local backup is still a restore point', async () => {
    await rest.stop();
    try {
      const before = await snapkeep(['restore', 'shop', '--json', '--config', configPath], { env });
      const localBefore = events(before.stdout).filter(
        (event) => event.type === 'restore-point' && event.location === 'local',
      ).length;
      const backup = await snapkeep(['backup', '--config', configPath], { env });
      expectExit(backup, 10);
      expect(backup.stderr).toMatch(
        /shop → offsite: .*cannot reach repository offsite .*\(the local backup is kept\)/,
      );
      const after = await snapkeep(['restore', 'shop', '--json', '--config', configPath], { env });
      const localAfter = events(after.stdout).filter(
        (event) => event.type === 'restore-point' && event.location === 'local',
      ).length;
      expect(localAfter).toBe(localBefore + 1);
    } finally {
      await rest.start();
    }
  });

  it('prune keeps whole runs by the repository policy, and leaves an append-only offsite to its admin', async () => {
    const points = async (): Promise<number> =>
      events((await snapkeep(['restore', 'shop', '--json', '--config', configPath], { env })).stdout).filter(
        (event) => event.type === 'restore-point' && event.location === 'local',
      ).length;
    expect(await points()).toBe(2);
    const dry = await snapkeep(['prune', '--dry-run', '--config', configPath], { env });
    expectExit(dry, 0);
    expect(dry.stdout).toMatch(/shop in local: would delete run \S+ \(no keep rule matched\)/);
    expect(dry.stdout).toMatch(/shop in local: keep run \S+ \(keep_last 1 \(#1\)\)/);
    expect(dry.stdout).toMatch(
      /shop in offsite: append-only .*cannot delete\. Run instead:\n\s+RESTIC_REPOSITORY=rest:http:\/\/127\.0\.0\.1:\d+\/ restic forget --tag snapkeep-set=shop --keep-within 30d --prune/,
    );
    // The last line counts what the restic part would delete (the lines above list it).
    expect(dry.stdout.trimEnd().split('\n').at(-1)).toBe(
      'dry run: 1 backup-set run(s) would be deleted, nothing changed',
    );
    expect(await points()).toBe(2);
    const pruned = await snapkeep(['prune', '--config', configPath], { env });
    expectExit(pruned, 0);
    expect(pruned.stdout).toMatch(/shop in local: deleted 1 run\(s\), unused data pruned/);
    expect(await points()).toBe(1);
  });

  it(
    'repo check-permissions: the append-only offsite refuses to delete the canary; the local repository does not',
    { timeout: 180_000 },
    async () => {
      // Both exist after the tests above; alone, this creates them (the offsite with local's chunker params).
      const init = await snapkeep(['repo', 'init', '--config', configPath], { env });
      expectExit(init, 0);
      expect(init.stdout).toMatch(/offsite: (exists|created .*with the chunker parameters of local)/);
      const offsite = await snapkeep(['repo', 'check-permissions', 'offsite', '--config', configPath], {
        env,
      });
      expectExit(offsite, 0);
      expect(offsite.stdout).toMatch(/OK {3}write: created the canary snapshot/);
      expect(offsite.stdout).toMatch(/OK {3}read: the canary is listed/);
      expect(offsite.stdout).toMatch(/OK {3}delete refused: the canary is still there after forget/);
      const local = await snapkeep(['repo', 'check-permissions', 'local', '--config', configPath], { env });
      expectExit(local, 3);
      expect(local.stdout).toMatch(
        /FAIL delete refused: this identity DELETED the canary: local is not append-only/,
      );
      for (const text of [offsite.stdout, offsite.stderr]) expect(text).not.toContain(rest.password);
    },
  );
});
