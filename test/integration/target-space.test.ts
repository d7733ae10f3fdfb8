// A run records each local target's space and its copies at its end (run-end `space`), and
// status shows them: checked against df and the target directory on real btrfs.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runChecked } from '../../src/exec/command.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import { useCleanups } from '../helpers/cleanups.js';
import { diskWorld } from '../helpers/disk-world.js';
import { requireTools } from '../helpers/loop-btrfs.js';
import { snapshotsIn, writeRandomData } from '../helpers/btrfs-tree.js';

const cleanups = useCleanups();

beforeAll(async () => {
  await requireTools(['btrfs', 'mkfs.btrfs', 'flock', 'df']);
});

describe('target space at the end of a run', () => {
  it('run-end records used, free and size as df reports them, and the copies on the target; status shows them', async () => {
    const { data, targetDir, configPath, stateDir } = await diskWorld(cleanups, 'sp', 256);
    await writeRandomData(data, 8);
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
