// A restic backup shows its progress (issue 16): restic's --json status lines become `progress`
// events and, on a terminal, one progress line per item that the item's outcome line replaces.
// Ground truth: the size of the file backed up (what restic must read), and the order of events.
import { mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/command.js';
import { writeRandomData } from '../helpers/btrfs-tree.js';
import { useCleanups } from '../helpers/cleanups.js';
import { cliPath, events, expectExit, snapkeep } from '../helpers/cli.js';
import { requireTools } from '../helpers/loop-btrfs.js';
import { resticBinaries } from '../helpers/restic-binaries.js';
import { folderSetConfig } from '../helpers/restic-world.js';
import { runOnPty, VirtualTerminal } from '../helpers/virtual-terminal.js';

const cleanups = useCleanups();

async function world(name: string): Promise<{ config: string; uploads: string; base: string }> {
  const base = await cleanups.tempDir(name);
  const uploads = join(base, 'uploads');
  await mkdir(uploads);
  // Random data, large enough that restic reports its reading before it is done.
  await writeRandomData(uploads, 96);
  await writeFile(join(base, 'password'), 'backup progress password\n', { mode: 0o600 });
  const config = join(base, 'snapkeep.yaml');
  await writeFile(config, folderSetConfig(base, uploads, 'uploads'));
  return { config, uploads, base };
}

async function bytesUnder(directory: string): Promise<number> {
  const listed = await runCommand({ file: 'find', args: [directory, '-type', 'f', '-printf', '%p\\n'] });
  let total = 0;
  for (const path of listed.stdout.split('\n').filter(Boolean)) total += (await stat(path)).size;
  return total;
}

describe('restic backup progress', () => {
  for (const binary of [undefined, 'newest'] as const)
    it(`--json: progress events before the item, never beyond what restic must read (${binary ?? 'restic on PATH'})`, async () => {
      const { config, uploads } = await world('bprog');
      const env: Record<string, string> = { ...(process.env as Record<string, string>) };
      if (binary) env.SNAPKEEP_RESTIC = (await resticBinaries()).at(-1)!.path;
      const result = await snapkeep(['backup', '--config', config, '--json'], { env });
      expectExit(result, 0);
      const all = events(result.stdout);
      const size = await bytesUnder(uploads);
      const progress = all.filter((event) => event.type === 'progress');
      expect(progress.length).toBeGreaterThan(0);
      const item = all.findIndex((event) => event.type === 'item');
      expect(all.findLastIndex((event) => event.type === 'progress')).toBeLessThan(item);
      let previous = 0;
      for (const event of progress) {
        expect(event).toMatchObject({
          set: 'app',
          source: 'uploads',
          what: all[item]!.what,
          expectedBytes: size,
        });
        expect(event.bytes as number).toBeGreaterThanOrEqual(previous);
        expect(event.bytes as number).toBeLessThanOrEqual(size);
        previous = event.bytes as number;
      }
    });

  it('on a terminal: a progress line while restic reads, replaced by the item line', async () => {
    await requireTools(['script']);
    const { config, base } = await world('bprogtty');
    const result = await runOnPty([process.execPath, cliPath, 'backup', '--config', config], base, 120);
    expect(result.exitCode).toBe(0);
    const raw = result.output;
    const progressLine = /app: \S+uploads: [\d.]+ [KMGT]?i?B at [\d.]+ [KMGT]?i?B\/s/;
    expect(raw, 'a progress line was drawn').toMatch(progressLine);
    const terminal = new VirtualTerminal(120);
    terminal.write(raw);
    const screen = terminal.screen();
    expect(screen.filter((line) => progressLine.test(line))).toEqual([]);
    expect(
      screen.some((line) => /^ok {3}app: \S+uploads \[[\d.]+s\] snapshot [0-9a-f]{8}, added /.test(line)),
    ).toBe(true);
  });
});
