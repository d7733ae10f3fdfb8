// The FIFO directories killed runs leave in the temp directory: removed by a later run when the
// process that made one is gone, and nothing else (a live run's, another user's, a symlink, a
// name of another shape).
import { spawn } from 'node:child_process';
import { lstat, mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runChecked } from '../../src/exec/command.js';
import { fifoDirectoryPrefix, removeStaleFifoDirectories } from '../../src/exec/stale-fifos.js';
import { useCleanups } from '../helpers/cleanups.js';

const cleanups = useCleanups();

/** The pid of a process that has ended (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn('true');
  await new Promise((resolve) => child.once('close', resolve));
  return child.pid!;
}

describe('removeStaleFifoDirectories', () => {
  it('removes only the directories of processes that are gone, made by this user', async () => {
    const temp = await cleanups.tempDir('stale-fifos');
    const dead = await deadPid();
    const live = spawn('sleep', ['600']);
    cleanups.push(() => {
      live.kill('SIGKILL');
      return Promise.resolve();
    });
    const elsewhere = join(temp, 'elsewhere');
    await mkdir(elsewhere);
    await writeFile(join(elsewhere, 'keep'), 'keep');
    const stale = join(temp, `snapkeep-fifo-${dead}-Ab12Cd`);
    await mkdir(stale);
    await runChecked({ file: 'mkfifo', args: [join(stale, '0')] });
    await mkdir(join(temp, `snapkeep-fifo-${live.pid}-Ef34Gh`)); // a run still going
    await mkdir(join(temp, `${fifoDirectoryPrefix()}Ij56Kl`)); // this process's own
    await mkdir(join(temp, 'snapkeep-fifo-Mn78Op')); // an older version's: whose, nobody can tell
    await symlink(elsewhere, join(temp, `snapkeep-fifo-${dead}-Qr90St`));
    await writeFile(join(temp, `snapkeep-fifo-${dead}-Uv12Wx`), 'a file');
    const others = join(temp, `snapkeep-fifo-${dead}-Yz34Ab`);
    await mkdir(others);
    await runChecked({ file: 'chown', args: ['nobody', others] });

    expect(await removeStaleFifoDirectories(temp)).toEqual([stale]);
    expect((await readdir(temp)).sort()).toEqual(
      [
        'elsewhere',
        `snapkeep-fifo-${live.pid}-Ef34Gh`,
        `${fifoDirectoryPrefix()}Ij56Kl`,
        'snapkeep-fifo-Mn78Op',
        `snapkeep-fifo-${dead}-Qr90St`,
        `snapkeep-fifo-${dead}-Uv12Wx`,
        `snapkeep-fifo-${dead}-Yz34Ab`,
      ].sort(),
    );
    expect(await readdir(elsewhere)).toEqual(['keep']);
    expect((await lstat(join(temp, `snapkeep-fifo-${dead}-Qr90St`))).isSymbolicLink()).toBe(true);
  });

  it('a temp directory that cannot be read is no error', async () => {
    expect(await removeStaleFifoDirectories('/nonexistent/snapkeep-test')).toEqual([]);
  });
});
