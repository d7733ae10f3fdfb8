// A run records each local target's space and its copies at its end (run-end `space`), and
// status shows them: checked against df and the target directory on real btrfs.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked, runCommand } from '../../src/exec/command.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import { createLoopBtrfs, makeTempDir, requireTools, type LoopBtrfs } from '../helpers/loop-btrfs.js';
import { createSubvolume, snapshotsIn, writeRandomData } from '../helpers/btrfs-tree.js';

let source: LoopBtrfs;
let target: LoopBtrfs;
let base: string;

beforeAll(async () => {
  await requireTools(['btrfs', 'mkfs.btrfs', 'flock', 'df']);
  source = await createLoopBtrfs('spsrc', 256);
  target = await createLoopBtrfs('sptgt', 256);
  base = await makeTempDir('target-space');
});

afterAll(async () => {
  await target?.cleanup();
  await source?.cleanup();
  if (base) await runCommand({ file: 'rm', args: ['-rf', base] });
});

describe('target space at the end of a run', () => {
  it('run-end records used, free and size as df reports them, and the copies on the target; status shows them', async () => {
    const data = join(source.mountPoint, 'data');
    const targetDir = join(target.mountPoint, 'backups');
    await runChecked({ file: 'mkdir', args: ['-p', targetDir] });
    await createSubvolume(data);
    await writeRandomData(data, 8);
    const configPath = join(base, 'snapkeep.yaml');
    const stateDir = join(base, 'state');
    await writeFile(
      configPath,
      `state_dir: ${stateDir}
targets:
  disk: { path: ${targetDir} }
subvolumes:
  data:
    path: ${data}
    snapshot_dir: ${join(source.mountPoint, 'snapshots')}
    targets: [disk]
`,
    );
    expectExit(await snapkeep(['run', '--config', configPath]), 0);
    const journal = (await readFile(join(stateDir, 'journal.ndjson'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { event: string; space?: Record<string, unknown>[] });
    const end = journal.findLast((entry) => entry.event === 'run-end')!;
    expect(end.space).toHaveLength(1);
    const sample = end.space![0]! as {
      target: string;
      path: string;
      sizeBytes: number;
      freeBytes: number;
      usedBytes: number;
      copies: Record<string, number>;
    };
    const df = (await runChecked({ file: 'df', args: ['-B1', '--output=size,used,avail', targetDir] })).stdout
      .trim()
      .split('\n')[1]!
      .trim()
      .split(/\s+/)
      .map(Number);
    expect(sample).toMatchObject({ target: 'disk', path: targetDir, sizeBytes: df[0] });
    // Used and free move as btrfs commits the received data: within a few MiB of df's answer.
    expect(Math.abs(sample.usedBytes - df[1]!)).toBeLessThan(16 * 2 ** 20);
    expect(Math.abs(sample.freeBytes - df[2]!)).toBeLessThan(16 * 2 ** 20);
    expect(sample.copies).toEqual({ data: (await snapshotsIn(targetDir)).length });

    const status = await snapkeep(['status', '--config', configPath, '--json']);
    expectExit(status, 0);
    expect(events(status.stdout).find((event) => event.type === 'target-space')).toMatchObject({
      target: 'disk',
      copies: { data: 1 },
    });
    expect((await snapkeep(['status', '--config', configPath])).stdout).toMatch(
      /^disk: [\d.]+ GiB used, [\d.]+ GiB free; copies: data 1$/m,
    );
  });
});
