// `prune` applies the btrfs retention and the backup sets' retention in one run. A secret the
// sets' part needs that is missing is a configuration error found before anything is deleted:
// exit 2, every snapshot still there, no journal line (it used to be found after the btrfs part
// had deleted snapshots).
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapkeep, expectExit } from '../helpers/cli.js';
import { createLoopBtrfs, makeTempDir, type LoopBtrfs } from '../helpers/loop-btrfs.js';
import { createSubvolume, snapshotsIn } from '../helpers/btrfs-tree.js';

let source: LoopBtrfs;
let base: string;

beforeAll(async () => {
  source = await createLoopBtrfs('prune-secrets');
  base = await makeTempDir('prune-secrets');
});

afterAll(async () => {
  await source?.cleanup();
  if (base) await rm(base, { recursive: true, force: true });
});

describe('prune with subvolumes and backup sets', () => {
  it('a missing backup-set secret exits 2 before the btrfs part deletes any snapshot', async () => {
    const data = join(source.mountPoint, 'data');
    const snapshots = join(source.mountPoint, 'snapshots');
    await createSubvolume(data);
    await writeFile(join(base, 'password'), 'local repository password\n');
    const stateDir = join(base, 'state');
    const configPath = join(base, 'snapkeep.yaml');
    const config = (retention: string) => `state_dir: ${stateDir}
subvolumes:
  data:
    path: ${data}
    snapshot_dir: ${snapshots}
    snapshot_create: always
    snapshot_retention: ${retention}
repositories:
  local:
    url: ${join(base, 'repo')}
    password: env:TEST_PRUNE_REPO_PASSWORD
    retention: { keep_last: 2 }
sources:
  uploads:
    type: directory
    paths: [${join(base, 'uploads')}]
backup_sets:
  app:
    sources: [uploads]
    repository: local
`;
    // Three snapshots kept by "all"; then a policy that keeps only the latest.
    await writeFile(configPath, config('{ preserve_min: all, preserve: "no" }'));
    for (let round = 0; round < 3; round++)
      expectExit(await snapkeep(['snapshot', '--config', configPath]), 0);
    const before = await snapshotsIn(snapshots);
    expect(before).toHaveLength(3);
    await writeFile(configPath, config('{ preserve_min: latest, preserve: "no" }'));
    const journalPath = join(stateDir, 'journal.ndjson');
    const journal = existsSync(journalPath) ? await readFile(journalPath, 'utf8') : '';

    const result = await snapkeep(['prune', '--config', configPath], {
      env: { SNAPKEEP_CACHE_DIR: 'off' },
    });
    expectExit(result, 2);
    expect(result.stderr).toMatch(/TEST_PRUNE_REPO_PASSWORD is not set/);
    expect(await snapshotsIn(snapshots)).toEqual(before);
    expect(await readFile(journalPath, 'utf8')).toBe(journal);
  });
});
