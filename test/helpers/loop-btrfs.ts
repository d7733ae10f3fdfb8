// Loop-mounted btrfs filesystems for integration tests. Each gets a unique directory so parallel
// runs on this shared machine never collide, and is unmounted (and its image removed) in cleanup,
// also when a test fails — callers register cleanup in afterAll/afterEach.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runChecked, runCommand } from '../../src/exec/command.js';

export interface LoopBtrfs {
  readonly mountPoint: string;
  readonly imagePath: string;
  cleanup(): Promise<void>;
}

export async function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `snapkeep-${prefix}-`));
}

/** Create, format and mount a btrfs image (default 512 MiB, sparse); `options` go to mount -o. */
export async function createLoopBtrfs(
  label: string,
  sizeMiB = 512,
  options: readonly string[] = [],
): Promise<LoopBtrfs> {
  const base = await makeTempDir(label);
  const imagePath = join(base, `${label}.img`);
  const mountPoint = join(base, 'mnt');
  await runChecked({ file: 'mkdir', args: ['-p', mountPoint] });
  await runChecked({ file: 'truncate', args: ['-s', `${sizeMiB}M`, imagePath] });
  await runChecked({ file: 'mkfs.btrfs', args: ['-q', '-L', label, imagePath] });
  await runChecked({ file: 'mount', args: ['-o', ['loop', ...options].join(','), imagePath, mountPoint] });
  let cleaned = false;
  return {
    mountPoint,
    imagePath,
    async cleanup() {
      if (cleaned) return;
      cleaned = true;
      const result = await runCommand({ file: 'umount', args: [mountPoint] });
      if (result.exitCode !== 0) await runCommand({ file: 'umount', args: ['-l', mountPoint] });
      await rm(base, { recursive: true, force: true });
    },
  };
}

/** Skip nothing silently: integration prerequisites missing is a failure (CI=true) or a loud skip. */
export async function requireTools(tools: readonly string[]): Promise<void> {
  const missing: string[] = [];
  for (const tool of tools) {
    const result = await runCommand({ file: 'sh', args: ['-c', 'command -v "$1"', 'sh', tool] });
    if (result.exitCode !== 0) missing.push(tool);
  }
  if (missing.length > 0) {
    throw new Error(
      `integration test prerequisites missing: ${missing.join(', ')} — run scripts/install-deps.sh`,
    );
  }
}
