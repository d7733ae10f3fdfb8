// One rule for secrets, with real restic (0.14 and 0.18), a real PostgreSQL, an offsite on
// `rclone serve restic` (basic auth) and one on s3rver: every secret a run needs is resolved
// before anything is written, so a missing one exits 2 and no repository gets a snapshot, no
// journal line is written. A credential the server refuses (HTTP 401, InvalidAccessKeyId) is an
// authentication error, never "no repository": nothing is created there, the run is partial
// (exit 3) and the local backup is kept. A secret pasted into the config is refused unrepeated.
import { existsSync } from 'node:fs';
import { readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/command.js';
import { snapkeep, expectExit } from '../helpers/cli.js';
import { useCleanups } from '../helpers/cleanups.js';
import { makeTempDir } from '../helpers/loop-btrfs.js';
import { startRestServer, type RestServer } from '../helpers/rclone-rest.js';
import type { ResticBinary } from '../helpers/restic-binaries.js';
import { startResticWorld, versionData, writeBackupSetConfig } from '../helpers/restic-world.js';
import type { ResticWorld } from '../helpers/restic-world.js';
import type { S3Server } from '../helpers/s3-server.js';

let world: ResticWorld & { s3: S3Server };
let s3: S3Server;
const cleanups = useCleanups(afterAll);

beforeAll(async () => {
  world = await startResticWorld(cleanups, 'secret-rules', { s3: true });
  s3 = world.s3;
});

/** Every file under a directory (relative paths, sorted): what a server has stored. */
async function filesUnder(directory: string): Promise<string[]> {
  if (!existsSync(directory)) return [];
  const entries = await readdir(directory, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(directory.length))
    .sort();
}

describe.each([0, 1])('secrets and credentials with restic #%i', (index) => {
  let binary: ResticBinary;
  let rest: RestServer;
  let directory: string;
  let configPath: string;
  let env: Record<string, string>;
  let s3Prefix: string;
  const pgPassword = 'pg-secret-8c2e';

  /** restic's own count of snapshots in each repository (the ground truth, not snapkeep's view). */
  async function snapshotCounts(): Promise<{ local: number; rest: number; s3: number }> {
    const count = async (extra: Record<string, string>, args: string[] = []): Promise<number> => {
      const result = await runCommand({
        file: binary.path,
        args: [...args, 'snapshots', '--json'],
        env: extra,
        timeoutMs: 60_000,
      });
      if (result.exitCode !== 0) throw new Error(`restic snapshots: ${result.stderr}`);
      return (JSON.parse(result.stdout) as unknown[]).length;
    };
    const [local, rested, s3ed] = await Promise.all([
      count({ RESTIC_REPOSITORY: join(directory, 'repo'), RESTIC_PASSWORD: 'local password' }),
      count({
        RESTIC_REPOSITORY: rest.url.replace('http://', `http://${rest.user}:${rest.password}@`),
        RESTIC_PASSWORD: 'rest repository password',
      }),
      count(
        {
          RESTIC_REPOSITORY: `s3:${s3.endpoint}/${s3.bucket}/${s3Prefix}`,
          RESTIC_PASSWORD: 's3 repository password',
          AWS_ACCESS_KEY_ID: s3.accessKeyId,
          AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
        },
        ['--cacert', s3.certificate],
      ),
    ]);
    return { local, rest: rested, s3: s3ed };
  }

  const journalText = async (): Promise<string> =>
    readFile(join(directory, 'state', 'journal.ndjson'), 'utf8').catch(() => '');

  beforeAll(async () => {
    binary = world.binaries[index]!;
    rest = await startRestServer();
    s3Prefix = `rules-${binary.version}`;
    const made = await versionData(world, binary, {
      databasePrefix: 'rules',
      scale: 1,
      uploads: 'uploads',
      fileMiB: 1,
      filePrefix: 'file',
    });
    directory = made.directory;
    const { database, uploads } = made;
    await writeFile(join(directory, 'password'), 'local password\n');
    configPath = await writeBackupSetConfig({
      directory,
      local: { password: `file:${join(directory, 'password')}` },
      repositories: {
        rest: {
          url: rest.url,
          password: 'env:TEST_REST_REPO_PASSWORD',
          env: {
            RESTIC_REST_USERNAME: 'env:TEST_REST_USER',
            RESTIC_REST_PASSWORD: 'env:TEST_REST_PASSWORD',
          },
        },
        s3: {
          url: `s3:${s3.endpoint}/${s3.bucket}/${s3Prefix}`,
          password: 'env:TEST_S3_REPO_PASSWORD',
          cacert: s3.certificate,
          env: { AWS_ACCESS_KEY_ID: 'env:TEST_S3_KEY_ID', AWS_SECRET_ACCESS_KEY: 'env:TEST_S3_SECRET' },
        },
      },
      postgres: world.postgres,
      database,
      databasePassword: 'env:TEST_PG_PASSWORD',
      files: { name: 'uploads', path: uploads },
      set: { name: 'app', offsite: ['rest', 's3'] },
    });
    env = {
      SNAPKEEP_RESTIC: binary.path,
      SNAPKEEP_CACHE_DIR: join(directory, 'cache'),
      TEST_REST_REPO_PASSWORD: 'rest repository password',
      TEST_REST_USER: rest.user,
      TEST_REST_PASSWORD: rest.password,
      TEST_S3_REPO_PASSWORD: 's3 repository password',
      TEST_S3_KEY_ID: s3.accessKeyId,
      TEST_S3_SECRET: s3.secretAccessKey,
      TEST_PG_PASSWORD: pgPassword,
    };
    // Every repository exists and holds one run: "no new snapshot" below is a count that stays.
    expectExit(await snapkeep(['backup', '--config', configPath], { env }), 0);
  });

  afterAll(async () => {
    await rest?.cleanup();
  });

  it('each missing secret exits 2 before anything is written: no repository gets a snapshot, no journal line', async () => {
    const before = await snapshotCounts();
    expect(before).toEqual({ local: 2, rest: 2, s3: 2 });
    const journal = await journalText();
    const without = (name: string): Record<string, string> =>
      Object.fromEntries(Object.entries(env).filter(([key]) => key !== name));
    const cases: { what: string; env: Record<string, string>; message: RegExp }[] = [
      {
        what: 'PostgreSQL password',
        env: without('TEST_PG_PASSWORD'),
        message: /sources\.database\.password: the environment variable TEST_PG_PASSWORD is not set/,
      },
      {
        what: 'offsite repository password (env:)',
        env: without('TEST_REST_REPO_PASSWORD'),
        message: /repositories\.rest\.password: the environment variable TEST_REST_REPO_PASSWORD is not set/,
      },
      {
        what: 'offsite REST secret',
        env: without('TEST_REST_PASSWORD'),
        message: /repositories\.rest\.env\.RESTIC_REST_PASSWORD: the environment variable TEST_REST_PASSWORD/,
      },
      {
        what: 'offsite S3 secret',
        env: without('TEST_S3_SECRET'),
        message: /repositories\.s3\.env\.AWS_SECRET_ACCESS_KEY: the environment variable TEST_S3_SECRET/,
      },
    ];
    for (const { what, env: caseEnv, message } of cases) {
      const result = await snapkeep(['backup', '--config', configPath], { env: caseEnv });
      expectExit(result, 2);
      expect(result.stderr, what).toMatch(message);
      expect(result.stderr, what).toMatch(/nothing was changed/);
      expect(await snapshotCounts(), what).toEqual(before);
      expect(await journalText(), what).toBe(journal);
    }
    // The local repository's password file (file:), gone.
    await rename(join(directory, 'password'), join(directory, 'password.away'));
    try {
      const result = await snapkeep(['backup', '--config', configPath], { env });
      expectExit(result, 2);
      expect(result.stderr).toMatch(
        new RegExp(
          `repositories\\.local\\.password \\(file:${join(directory, 'password')}\\): cannot open ${join(directory, 'password')}: it does not exist \\(ENOENT\\); check the path`,
        ),
      );
      expect(await journalText()).toBe(journal);
    } finally {
      await rename(join(directory, 'password.away'), join(directory, 'password'));
    }
    expect(await snapshotCounts()).toEqual(before);
  });

  it('a wrong REST password: authentication failed (exit 3), the local backup kept, nothing created on the server', async () => {
    // A fresh server: before, the 401 read as "no repository" and snapkeep tried to create one.
    const fresh = await startRestServer();
    try {
      const freshConfig = join(directory, 'fresh.yaml');
      await writeFile(
        freshConfig,
        (await readFile(configPath, 'utf8'))
          .replace(rest.url, fresh.url)
          .replace('offsite: [rest, s3]', 'offsite: [rest]'),
      );
      const wrong = `wrong-${fresh.password}`;
      const localBefore = (await snapshotCounts()).local;
      const result = await snapkeep(['backup', '--config', freshConfig], {
        env: { ...env, TEST_REST_USER: fresh.user, TEST_REST_PASSWORD: wrong },
      });
      expectExit(result, 3);
      expect(result.stderr).toMatch(
        /app → rest: .*authentication failed for repository rest \(rest:http:\/\/127\.0\.0\.1:\d+\/\): the server refused the credentials \(HTTP 401 Unauthorized\); check repositories\.rest\.env\.RESTIC_REST_USERNAME and RESTIC_REST_PASSWORD .*No repository was created .*\(the local backup is kept\)/,
      );
      expect(result.stdout).toMatch(/app: FAILED: the local backup is complete \(a restore point\)/);
      expect((await snapshotCounts()).local).toBe(localBefore + 2);
      expect(await filesUnder(join(fresh.directory, 'data'))).toEqual([]);
      for (const text of [result.stdout, result.stderr, await journalText()])
        expect(text).not.toContain(wrong);
    } finally {
      await fresh.cleanup();
    }
    // The existing repository with a wrong password: the same, and its files are untouched.
    const stored = await filesUnder(join(rest.directory, 'data'));
    const wrong = `wrong-${rest.password}`;
    const result = await snapkeep(['backup', '--config', configPath], {
      env: { ...env, TEST_REST_PASSWORD: wrong },
    });
    expectExit(result, 3);
    expect(result.stderr).toMatch(/authentication failed for repository rest .*\(HTTP 401 Unauthorized\)/);
    expect(result.stdout).toMatch(/ok {3}app → s3: copied/);
    expect(await filesUnder(join(rest.directory, 'data'))).toEqual(stored);
    expect(result.stderr).not.toContain(wrong);
  });

  // s3rver does not check V4 signatures (a wrong secret key passes), so an unknown key id is the
  // refusal it can give; restic 0.18 retries that one for many minutes before it gives up, so
  // only 0.14 (which fails at once) can show it here: the case exists for 0.14 only (registered,
  // not skipped, for 0.18 — the runner's counts never show a silent skip).
  if (index === 0)
    it('an S3 access key the server does not know: authentication failed (exit 3), no repository created', async () => {
      const freshConfig = join(directory, 'fresh-s3.yaml');
      const prefix = `never-${binary.version}`;
      await writeFile(
        freshConfig,
        (await readFile(configPath, 'utf8'))
          .replace(`${s3.bucket}/${s3Prefix}`, `${s3.bucket}/${prefix}`)
          .replace('offsite: [rest, s3]', 'offsite: [s3]'),
      );
      const result = await snapkeep(['backup', '--config', freshConfig], {
        env: { ...env, TEST_S3_KEY_ID: 'NOSUCHKEY' },
      });
      expectExit(result, 3);
      expect(result.stderr).toMatch(
        /app → s3: .*authentication failed for repository s3 .*InvalidAccessKeyId\); check repositories\.s3\.env\.AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY .*\(the local backup is kept\)/,
      );
      // With the right key, restic finds no repository there: none was created.
      const probe = await runCommand({
        file: binary.path,
        args: ['--cacert', s3.certificate, 'cat', 'config'],
        env: {
          RESTIC_REPOSITORY: `s3:${s3.endpoint}/${s3.bucket}/${prefix}`,
          RESTIC_PASSWORD: 's3 repository password',
          AWS_ACCESS_KEY_ID: s3.accessKeyId,
          AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
        },
        timeoutMs: 60_000,
      });
      expect(probe.exitCode).not.toBe(0);
      expect(probe.stderr).toMatch(/config.* does not exist|key does not exist|NoSuchKey/i);
    });
});

describe('a secret pasted into the configuration', () => {
  it('is refused (exit 2) with the key named and the value never repeated', async () => {
    const directory = await makeTempDir('literal-secret');
    try {
      const configPath = join(directory, 'snapkeep.yaml');
      const literal = 'Tr0ub4dor&3-pasted';
      await writeFile(
        configPath,
        `state_dir: ${join(directory, 'state')}
repositories:
  local:
    url: ${join(directory, 'repo')}
    password: "${literal}"
  offsite:
    url: rest:https://backup:${literal}-url@127.0.0.1:8000/
    password: env:OFFSITE_PASSWORD
    env:
      RESTIC_REST_PASSWORD: ${literal}-env
sources:
  uploads:
    type: directory
    paths: [${directory}]
backup_sets:
  app:
    sources: [uploads]
    repository: local
    offsite: [offsite]
`,
      );
      for (const command of [['config', 'validate'], ['backup']]) {
        const result = await snapkeep([...command, '--config', configPath], {
          env: { SNAPKEEP_CACHE_DIR: join(directory, 'cache') },
        });
        expectExit(result, 2);
        expect(result.stderr).toMatch(
          /repositories\.local\.password: is not a secret reference \(got a value of \d+ character\(s\), not shown/,
        );
        expect(result.stderr).toMatch(
          /repositories\.offsite\.env\.RESTIC_REST_PASSWORD: is not a secret reference/,
        );
        expect(result.stderr).toMatch(
          /repositories\.offsite\.url: .*got "rest:https:\/\/backup:\*\*\*@127\.0\.0\.1:8000\/"/,
        );
        expect(result.stdout + result.stderr).not.toContain(literal);
      }
      expect(existsSync(join(directory, 'state'))).toBe(false);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
