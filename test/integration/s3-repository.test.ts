// An S3 offsite repository on a real S3 protocol server (s3rver over TLS, its certificate given
// to restic with cacert:), with restic 0.14 and 0.18: the run is copied and compared, a restore
// from S3 is identical, and the S3 secret key never shows.
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapkeep, events, expectExit } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/loop-btrfs.js';
import { treeChecksums, writeRandomData } from '../helpers/btrfs-tree.js';
import { populateRealisticData, startPostgres, type PostgresServer } from '../helpers/postgres.js';
import { resticBinaries, type ResticBinary } from '../helpers/restic-binaries.js';
import { startS3Server, type S3Server } from '../helpers/s3-server.js';

let postgres: PostgresServer;
let s3: S3Server;
let base: string;
let binaries: ResticBinary[];

beforeAll(async () => {
  binaries = await resticBinaries();
  [postgres, s3] = await Promise.all([startPostgres(), startS3Server()]);
  base = await makeTempDir('s3');
});

afterAll(async () => {
  await Promise.all([postgres?.stop(), s3?.stop()]);
  if (base) await rm(base, { recursive: true, force: true });
});

describe.each([0, 1])('S3 offsite with restic #%i', (index) => {
  it(`restic ${index === 0 ? '0.14' : '0.18'}: backup copied to S3 over TLS and restored from it identically`, async () => {
    const binary = binaries[index]!;
    const directory = join(base, `v${binary.version}`);
    const uploads = join(directory, 'media');
    const database = `cms_${binary.version.replace(/\./g, '_')}`;
    await mkdir(uploads, { recursive: true });
    await writeRandomData(uploads, 2, 'image');
    await postgres.createDatabase(database);
    await populateRealisticData(postgres, database, 2);
    await writeFile(join(directory, 'password'), 'local password\n');
    const configPath = join(directory, 'snapkeep.yaml');
    await writeFile(
      configPath,
      `state_dir: ${join(directory, 'state')}
repositories:
  local:
    url: ${join(directory, 'repo')}
    password: file:${join(directory, 'password')}
  s3:
    url: s3:${s3.endpoint}/${s3.bucket}/cms-${binary.version}
    password: env:TEST_S3_REPO_PASSWORD
    cacert: ${s3.certificate}
    env:
      AWS_ACCESS_KEY_ID: env:TEST_S3_KEY_ID
      AWS_SECRET_ACCESS_KEY: env:TEST_S3_SECRET
sources:
  database:
    type: postgres
    databases: [${database}]
    host: 127.0.0.1
    port: ${postgres.port}
    user: postgres
  media:
    type: directory
    paths: [${uploads}]
backup_sets:
  cms:
    sources: [database, media]
    repository: local
    offsite: [s3]
`,
    );
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
