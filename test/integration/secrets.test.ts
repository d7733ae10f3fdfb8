// Secret references as a user writes them. op:// runs the 1Password CLI, which cannot be installed
// here (not in Debian, and it needs a 1Password account): a stand-in `op` on PATH answers
// `op read --no-newline <reference>` like the real one (the value without a newline, or an error
// on stderr and exit 1). The stand-in is the only fake; env: and file: are real.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskSecrets } from '../../src/exec/command.js';
import { resolveSecret } from '../../src/restic/secrets.js';

let directory: string;
const originalPath = process.env.PATH;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'snapkeep-secrets-'));
  await writeFile(
    join(directory, 'op'),
    `#!/bin/sh
[ "$1 $2" = "read --no-newline" ] || { echo "[ERROR] unexpected arguments: $*" >&2; exit 2; }
case "$3" in
  op://backups/restic/password) printf '%s' 'op-secret-Xy7';;
  op://backups/locked/password) echo '[ERROR] 2026/11/23 account is not signed in' >&2; exit 1;;
  *) echo "[ERROR] \\"$3\\" isn't an item" >&2; exit 1;;
esac
`,
    { mode: 0o755 },
  );
  await writeFile(join(directory, 'password'), 'file-secret-Q2w\nsecond line is not part of it\n');
  await writeFile(join(directory, 'empty'), '\n');
});

afterAll(async () => {
  process.env.PATH = originalPath;
  await rm(directory, { recursive: true, force: true });
});

describe('secret references', () => {
  it('op:// reads through the 1Password CLI; the value is masked in every message afterwards', async () => {
    process.env.PATH = `${directory}:${originalPath ?? ''}`;
    expect(await resolveSecret('op://backups/restic/password', 'repositories.offsite.password')).toBe(
      'op-secret-Xy7',
    );
    expect(maskSecrets('restic said: wrong password op-secret-Xy7')).not.toContain('op-secret-Xy7');
  });

  it('op:// failures name the key, the reference and what op said, with the likely fix', async () => {
    process.env.PATH = `${directory}:${originalPath ?? ''}`;
    await expect(
      resolveSecret('op://backups/locked/password', 'repositories.local.password'),
    ).rejects.toThrow(
      /^repositories\.local\.password: op read op:\/\/backups\/locked\/password failed: \[ERROR\] .*account is not signed in \(signed in\? OP_SERVICE_ACCOUNT_TOKEN set\?\)$/,
    );
    process.env.PATH = '/nonexistent';
    await expect(resolveSecret('op://backups/other/password', 'sources.database.password')).rejects.toThrow(
      'sources.database.password: cannot run the 1Password CLI (op) for op://backups/other/password: op is not installed',
    );
    process.env.PATH = originalPath;
  });

  it('file: takes the first line; env: the variable; both say what is missing', async () => {
    expect(await resolveSecret(`file:${join(directory, 'password')}`, 'repositories.local.password')).toBe(
      'file-secret-Q2w',
    );
    await expect(
      resolveSecret(`file:${join(directory, 'empty')}`, 'repositories.local.password'),
    ).rejects.toThrow(`repositories.local.password: the secret file ${join(directory, 'empty')} is empty`);
    await expect(
      resolveSecret(`file:${join(directory, 'missing')}`, 'repositories.local.password'),
    ).rejects.toThrow(
      `repositories.local.password (file:${join(directory, 'missing')}): cannot open ${join(directory, 'missing')}: it does not exist (ENOENT); check the path (a typo? a disk that is not mounted?) or create it`,
    );
    process.env.SNAPKEEP_TEST_SECRET = 'env-secret-P9k';
    expect(await resolveSecret('env:SNAPKEEP_TEST_SECRET', 'sources.database.password')).toBe(
      'env-secret-P9k',
    );
    delete process.env.SNAPKEEP_TEST_SECRET;
    await expect(resolveSecret('env:SNAPKEEP_TEST_UNSET', 'sources.database.password')).rejects.toThrow(
      'sources.database.password: the environment variable SNAPKEEP_TEST_UNSET is not set (env:SNAPKEEP_TEST_UNSET); set it where snapkeep runs (a systemd service: Environment= or EnvironmentFile=), or refer to a file: file:/path',
    );
  });
});
