// `snapkeep diff` on real btrfs: the changes it lists between two snapshots are the changes made
// between them (ground truth: what the test did, and a walk of both trees), text and --json.
import { appendFile, chmod, link, mkdir, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createSubvolume, snapshotsIn, treeChecksums } from '../helpers/btrfs-tree.js';
import { useCleanups } from '../helpers/cleanups.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';

const cleanups = useCleanups();

describe('snapkeep diff', () => {
  it('lists exactly the changes made between two snapshots', async () => {
    const source = await cleanups.loopBtrfs('diffsrc', 256);
    const base = await cleanups.tempDir('diff');
    const data = join(source.mountPoint, 'data');
    const snapshots = join(source.mountPoint, 'snapshots');
    await createSubvolume(data);
    await mkdir(snapshots);
    const config = join(base, 'snapkeep.yaml');
    await writeFile(
      config,
      `state_dir: ${join(base, 'state')}\nsubvolumes:\n  data:\n    path: ${data}\n    snapshot_dir: ${snapshots}\n`,
    );
    await mkdir(join(data, 'docs/old'), { recursive: true });
    await writeFile(join(data, 'docs/old/gone.txt'), 'x');
    await writeFile(join(data, 'docs/report.txt'), 'v1');
    await writeFile(join(data, 'keep.txt'), 'same');
    await writeFile(join(data, 'mode.sh'), 'echo');
    await writeFile(join(data, 'two names'), 'a');
    await link(join(data, 'two names'), join(data, 'alias')); // a rename of it is link + unlink
    await writeFile(join(data, 'linked'), 'b');
    await writeFile(join(data, 'grow.log'), 'one\n');
    expectExit(await snapkeep(['snapshot', '--config', config]), 0);

    await rm(join(data, 'docs/old'), { recursive: true });
    await rename(join(data, 'docs'), join(data, 'papers'));
    await writeFile(join(data, 'papers/new.txt'), 'new');
    await appendFile(join(data, 'grow.log'), 'two\n');
    await chmod(join(data, 'mode.sh'), 0o755);
    await link(join(data, 'linked'), join(data, 'other name'));
    await rename(join(data, 'two names'), join(data, 'renamed\nname'));
    await symlink('keep.txt', join(data, 'pointer'));
    expectExit(await snapkeep(['snapshot', '--config', config]), 0);
    const [older, newer] = await snapshotsIn(snapshots);

    const text = await snapkeep(['diff', 'data', '--config', config]);
    expectExit(text, 0);
    expect(text.stdout.trim().split('\n')).toEqual([
      'D  docs/old/',
      'D  docs/old/gone.txt',
      'M  grow.log',
      'a  mode.sh  (mode, owner or xattrs)',
      'A  "other name"  (another name of linked)',
      'R  docs → papers',
      'A  papers/new.txt',
      'A  pointer',
      'R  "two names" → "renamed\\nname"',
      `${older} → ${newer}: 3 added, 2 deleted, 1 modified, 2 renamed, 1 attributes`,
    ]);

    // The same between the two named explicitly, as JSON; and the ground truth of both trees.
    const json = await snapkeep(['diff', 'data', older!, 'latest', '--config', config, '--json']);
    expectExit(json, 0);
    const changes = events(json.stdout).filter((event) => event.type === 'change');
    expect(changes).toHaveLength(9);
    const before = await treeChecksums(join(snapshots, older!));
    const after = await treeChecksums(join(snapshots, newer!));
    const added = changes.filter((change) => change.change === 'added' && change.kind !== 'directory');
    for (const change of added) expect(before[String(change.path)]).toBeUndefined();
    const modified = changes.filter((change) => change.change === 'modified');
    for (const change of modified) expect(after[String(change.path)]).not.toBe(before[String(change.path)]);
    // Every file whose content or name differs between the trees is covered by a change (itself,
    // or a directory renamed or deleted above it); keep.txt, untouched, by none.
    const covers = (path: string): boolean =>
      changes.some((change) =>
        [change.path, change.from].some(
          (named) => typeof named === 'string' && (named === path || path.startsWith(`${named}/`)),
        ),
      );
    const differing = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(
      (path) => before[path] !== after[path],
    );
    expect(differing.length).toBeGreaterThan(4);
    expect(differing.filter((path) => !covers(path))).toEqual([]);
    expect(covers('keep.txt')).toBe(false);

    const missing = await snapkeep(['diff', 'data', 'data.19990101', '--config', config]);
    expectExit(missing, 2);
    expect(missing.stderr).toContain('has no such snapshot here');
  });
});
