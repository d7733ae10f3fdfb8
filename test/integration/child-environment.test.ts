// What each child of a backup set's run gets in its environment: exactly what it needs. Every
// tool snapkeep (or restic, for --stdin-from-command) starts is a wrapper on PATH that writes its
// environment to a file and then runs the real tool. The restic password, the REST password and
// the S3 secret key reach restic only; the PostgreSQL password reaches the PostgreSQL tools as
// PGPASSWORD (and restic 0.17+, which starts pg_dump itself); the variables the `env:`
// references name reach no child at all.
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/command.js';
import { expectExit, snapkeep } from '../helpers/cli.js';
import { useCleanups } from '../helpers/cleanups.js';
import { startResticWorld, versionData, writeBackupSetConfig } from '../helpers/restic-world.js';
import type { ResticWorld } from '../helpers/restic-world.js';

let world: ResticWorld;
const cleanups = useCleanups(afterAll);

const secrets = {
  TEST_RESTIC_PASSWORD: 'restic-password-8c1e77',
  TEST_REST_PASSWORD: 'rest-password-41b0d2',
  TEST_S3_SECRET: 's3-secret-key-9a3f5c',
  TEST_PG_PASSWORD: 'pg-password-e6d24b',
};
const resticOnly = [secrets.TEST_RESTIC_PASSWORD, secrets.TEST_REST_PASSWORD, secrets.TEST_S3_SECRET];

beforeAll(async () => {
  world = await startResticWorld(cleanups, 'child-env');
});

/** name=value pairs of one dumped environment (`env -0`). */
function parseEnvironment(text: string): Map<string, string> {
  return new Map(
    text
      .split('\0')
      .filter(Boolean)
      .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)] as const),
  );
}

describe.each([0, 1])('the environment of every child of a backup set (restic #%i)', (index) => {
  it('holds no secret it does not need; restic still gets its password, pg tools theirs', async () => {
    const binary = world.binaries[index]!;
    const { directory, database, uploads } = await versionData(world, binary, {
      databasePrefix: 'envcheck',
      scale: 1,
      uploads: 'uploads',
      fileMiB: 1,
      filePrefix: 'file',
    });
    const wrappers = join(directory, 'bin');
    const dumps = join(directory, 'environments');
    await mkdir(wrappers, { recursive: true });
    await mkdir(dumps, { recursive: true });
    const tools = ['pg_dump', 'psql', 'createdb', 'dropdb', 'pg_restore', 'mkfifo'];
    const wrap = async (name: string, real: string): Promise<void> => {
      await writeFile(
        join(wrappers, name),
        `#!/bin/sh\n/usr/bin/env -0 > '${dumps}/${name}.'$$\nexec '${real}' "$@"\n`,
        { mode: 0o755 },
      );
    };
    await wrap('restic', binary.path);
    for (const tool of tools)
      await wrap(tool, (await runCommand({ file: 'sh', args: ['-c', `command -v ${tool}`] })).stdout.trim());
    const configPath = await writeBackupSetConfig({
      directory,
      local: {
        password: 'env:TEST_RESTIC_PASSWORD',
        env: '{ RESTIC_REST_PASSWORD: env:TEST_REST_PASSWORD, AWS_SECRET_ACCESS_KEY: env:TEST_S3_SECRET }',
      },
      postgres: world.postgres,
      database,
      databasePassword: 'env:TEST_PG_PASSWORD',
      files: { name: 'uploads', path: uploads },
      set: { name: 'app' },
    });
    const env = {
      ...secrets,
      SNAPKEEP_RESTIC: join(wrappers, 'restic'),
      SNAPKEEP_CACHE_DIR: join(directory, 'cache'),
      PATH: `${wrappers}:${process.env.PATH ?? ''}`,
    };
    expectExit(await snapkeep(['backup', '--config', configPath], { env }), 0);
    expectExit(
      await snapkeep(
        [
          'restore',
          'app',
          'latest',
          '--to',
          join(directory, 'scratch'),
          '--database',
          `${database}=${database}_copy`,
          '--config',
          configPath,
        ],
        { env },
      ),
      0,
    );
    // Over the live database (--force).
    expectExit(
      await snapkeep(['restore', 'app', 'latest', '--force', '--yes', '--config', configPath], { env }),
      0,
    );

    const seen = new Set<string>();
    let resticWithRepository = 0;
    for (const file of await readdir(dumps)) {
      const tool = file.slice(0, file.lastIndexOf('.'));
      seen.add(tool);
      const text = await readFile(join(dumps, file), 'utf8');
      const variables = parseEnvironment(text);
      // The variables the references name: no child needs them (each gets its value by its name).
      for (const name of Object.keys(secrets)) expect(variables.has(name), `${tool} got ${name}`).toBe(false);
      if (tool === 'restic') {
        // `restic version` opens no repository and gets no credentials; every other one does.
        if (!variables.has('RESTIC_REPOSITORY')) continue;
        resticWithRepository++;
        expect(variables.get('RESTIC_PASSWORD')).toBe(secrets.TEST_RESTIC_PASSWORD);
        expect(variables.get('AWS_SECRET_ACCESS_KEY')).toBe(secrets.TEST_S3_SECRET);
        expect(variables.get('RESTIC_REST_PASSWORD')).toBe(secrets.TEST_REST_PASSWORD);
        continue;
      }
      for (const secret of resticOnly)
        expect(text.includes(secret), `${tool} got a restic secret`).toBe(false);
      if (tool === 'mkfifo')
        expect(text.includes(secrets.TEST_PG_PASSWORD), 'mkfifo got the pg password').toBe(false);
      else expect(variables.get('PGPASSWORD'), `${tool}'s PGPASSWORD`).toBe(secrets.TEST_PG_PASSWORD);
    }
    expect(resticWithRepository).toBeGreaterThan(0);
    // Every kind of child was looked at (mkfifo: only where snapkeep pipes the dump itself).
    const expected = ['restic', 'pg_dump', 'psql', 'createdb', 'pg_restore'];
    if (binary.version.startsWith('0.14')) expected.push('mkfifo');
    expect([...seen].sort()).toEqual(expect.arrayContaining(expected.sort()));
  });
});
