// The generated sudoers rules as sudo itself reads them: two setups on one host (two users, two
// roots) must coexist — sudo aliases are global across /etc/sudoers.d — and file names must be
// ones sudo does not skip.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/command.js';
import { sudoersFileName, sudoersRule } from '../../src/remote/remote-setup.js';
import { requireTools } from '../helpers/loop-btrfs.js';

describe('sudoers rule', () => {
  it('two users on one host give a combined file that visudo accepts', async () => {
    await requireTools(['visudo']);
    const directory = await mkdtemp(join(tmpdir(), 'snapkeep-sudoers-'));
    try {
      const combined = join(directory, 'combined');
      await writeFile(
        combined,
        sudoersRule({ user: 'laptop', roots: ['/mnt/backup/laptop'] }) +
          sudoersRule({ user: 'desk.top', roots: ['/mnt/backup/desktop'], noDelete: true }),
      );
      const checked = await runCommand({ file: 'visudo', args: ['-c', '-f', combined] });
      expect(checked.exitCode, checked.stderr + checked.stdout).toBe(0);
      const duplicated = join(directory, 'duplicated');
      const rule = sudoersRule({ user: 'laptop', roots: ['/mnt/backup/laptop'] });
      await writeFile(duplicated, rule + rule);
      // The check above can fail: the same alias twice is what sudo rejects.
      expect((await runCommand({ file: 'visudo', args: ['-c', '-f', duplicated] })).exitCode).not.toBe(0);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it('names files sudo reads (no dot)', () => {
    expect(sudoersFileName('desk.top')).toBe('snapkeep-desk_top');
    expect(sudoersFileName('snapkeep')).toBe('snapkeep-snapkeep');
  });
});
