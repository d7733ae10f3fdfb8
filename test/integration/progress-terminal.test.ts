// Two parallel transfers on a real terminal (script(1) gives the run a pty): what the screen
// shows at the end is every outcome line, whole, and no progress remains — whatever the
// progress lines did in between (test/unit/cli/progress-lines.test.ts checks the drawing itself).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/command.js';
import { createSubvolume, writeRandomData } from '../helpers/btrfs-tree.js';
import { useCleanups } from '../helpers/cleanups.js';
import { cliPath } from '../helpers/cli.js';
import { requireTools } from '../helpers/loop-btrfs.js';
import { runOnPty, VirtualTerminal } from '../helpers/virtual-terminal.js';

const cleanups = useCleanups();

describe('progress on a terminal', () => {
  it('two parallel sends: the final screen is their outcome lines and the summary, nothing garbled', async () => {
    await requireTools(['script']);
    const source = await cleanups.loopBtrfs('ttysrc', 512);
    const target = await cleanups.loopBtrfs('ttytgt', 512);
    const base = await cleanups.tempDir('progress-tty');
    for (const name of ['alpha', 'beta']) {
      await createSubvolume(join(source.mountPoint, name));
      await writeRandomData(join(source.mountPoint, name), 48);
    }
    const config = join(base, 'snapkeep.yaml');
    await writeFile(
      config,
      `state_dir: ${join(base, 'state')}
parallel: 2
targets:
  disk: { path: ${target.mountPoint} }
subvolumes:
${['alpha', 'beta']
  .map(
    (name) => `  ${name}:
    path: ${join(source.mountPoint, name)}
    snapshot_dir: ${join(source.mountPoint, `${name}-snapshots`)}
    targets: [disk]
`,
  )
  .join('')}`,
    );
    for (const name of ['alpha', 'beta'])
      await runCommand({ file: 'mkdir', args: [join(source.mountPoint, `${name}-snapshots`)] });
    const result = await runOnPty([process.execPath, cliPath, 'run', '--config', config], base, 100);
    expect(result.exitCode).toBe(0);
    const terminal = new VirtualTerminal(100);
    terminal.write(result.output);
    const screen = terminal.screen();
    expect(screen.filter((line) => / at [\d.]+ [KMGT]?i?B\/s/.test(line))).toEqual([]);
    const sends = screen.filter((line) => /^ok {3}\w+ → disk: send /.test(line));
    expect(sends).toHaveLength(2);
    for (const name of ['alpha', 'beta'])
      expect(sends.some((line) => line.startsWith(`ok   ${name} → disk: send ${name}.`))).toBe(true);
    // Every line whole: an outcome or the summary, nothing left over from a progress line.
    expect(
      screen.filter((line) => !/^ok {3}\w+( → disk)?: /.test(line) && !line.startsWith('run: ')),
    ).toEqual([]);
  });
});
