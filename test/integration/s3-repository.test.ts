// An S3 offsite repository on a real S3 protocol server (s3rver over TLS, its certificate given
// to restic with cacert:), with restic 0.14 and 0.18: the run is copied and compared, a restore
// from S3 is identical, and the S3 secret key never shows.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapkeep, events, expectExit } from '../helpers/cli.js';
import { useCleanups } from '../helpers/cleanups.js';
import { treeChecksums } from '../helpers/btrfs-tree.js';
import { startResticWorld, versionData, writeBackupSetConfig } from '../helpers/restic-world.js';
import type { ResticWorld } from '../helpers/restic-world.js';
import type { S3Server } from '../helpers/s3-server.js';

let world: ResticWorld & { s3: S3Server };
const cleanups = useCleanups(afterAll);

beforeAll(async () => {
  world = await startResticWorld(cleanups, 's3', { s3: true });
});

describe.each([0, 1])('S3 offsite with restic #%i', (index) => {
  it(`restic ${index === 0 ? '0.14' : '0.18'}: backup copied to S3 over TLS and restored from it identically`, async () => {
    const { postgres, s3 } = world;
    const binary = world.binaries[index]!;
    const { directory, database, uploads } = await versionData(world, binary, {
      databasePrefix: 'cms',
      scale: 2,
      uploads: 'media',
      fileMiB: 2,
      filePrefix: 'image',
    });
    await writeFile(join(directory, 'password'), 'local password\n');
    const configPath = await writeBackupSetConfig({
      directory,
      local: { password: `file:${join(directory, 'password')}` },
      repositories: {
        s3: {
          url: `s3:${s3.endpoint}/${s3.bucket}/cms-${binary.version}`,
          password: 'env:TEST_S3_REPO_PASSWORD',
          cacert: s3.certificate,
          env: { AWS_ACCESS_KEY_ID: 'env:TEST_S3_KEY_ID', AWS_SECRET_ACCESS_KEY: 'env:TEST_S3_SECRET' },
        },
      },
      postgres,
      database,
      files: { name: 'media', path: uploads },
      set: { name: 'cms', offsite: ['s3'] },
    });
    const env = {
      SNAPKEEP_RESTIC: binary.path,
      SNAPKEEP_CACHE_DIR: join(directory, 'cache'),
      TEST_S3_REPO_PASSWORD: 's3 repository password',
      TEST_S3_KEY_ID: s3.accessKeyId,
      TEST_S3_SECRET: s3.secretAccessKey,
    };
    const backup = await snapkeep(['backup', '--json', '--config', configPath], { env });
    expectExit(backup, 0);
    expect(events(backup.stdout).find((event) => event.type === 'offsite')).toMatchObject({
      repository: 's3',
      ok: true,
      present: 2,
    });
    const scratch = join(directory, 'from-s3');
    const restored = await snapkeep(
      [
        'restore',
        'cms',
        'latest',
        '--from',
        's3',
        '--to',
        scratch,
        '--database',
        `${database}=${database}_s3`,
        '--config',
        configPath,
      ],
      { env },
    );
    expectExit(restored, 0);
    expect(await postgres.tableDigests(`${database}_s3`)).toEqual(await postgres.tableDigests(database));
    expect(await treeChecksums(join(scratch, uploads))).toEqual(await treeChecksums(uploads));
    const journal = await readFile(join(directory, 'state', 'journal.ndjson'), 'utf8');
    for (const text of [backup.stdout, backup.stderr, restored.stdout, restored.stderr, journal])
      expect(text).not.toContain('s3 repository password');
  });
});
