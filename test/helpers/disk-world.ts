// The smallest real layout: a subvolume `data` on one loop btrfs, its snapshots beside it in
// `snapshots`, sent to the target `disk` (a `backups` directory on a second loop btrfs), with a
// config and a state directory in a temp dir. Everything is registered with the cleanups.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runChecked } from '../../src/exec/command.js';
import { createSubvolume } from './btrfs-tree.js';
import type { Cleanups } from './cleanups.js';
import type { LoopBtrfs } from './loop-btrfs.js';

export interface DiskWorld {
  readonly source: LoopBtrfs;
  readonly target: LoopBtrfs;
  readonly base: string;
  readonly data: string;
  readonly targetDir: string;
  readonly configPath: string;
  readonly stateDir: string;
}

export async function diskWorld(cleanups: Cleanups, label: string, sizeMiB: number): Promise<DiskWorld> {
  const source = await cleanups.loopBtrfs(`${label}src`, sizeMiB);
  const target = await cleanups.loopBtrfs(`${label}tgt`, sizeMiB);
  const base = await cleanups.tempDir(label);
  const data = join(source.mountPoint, 'data');
  const targetDir = join(target.mountPoint, 'backups');
  await runChecked({ file: 'mkdir', args: ['-p', targetDir] });
  await createSubvolume(data);
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
  return { source, target, base, data, targetDir, configPath, stateDir };
}
