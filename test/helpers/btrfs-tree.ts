// Helpers to build and compare data on btrfs in integration tests.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { runChecked } from '../../src/exec/command.js';
import { parseSubvolumeShow, type ShownSubvolume } from '../../src/btrfs/btrfs-parse.js';

export async function createSubvolume(path: string): Promise<void> {
  await runChecked({ file: 'btrfs', args: ['subvolume', 'create', path] });
}

export async function snapshotAs(source: string, destination: string): Promise<void> {
  await mkdir(dirname(destination), { recursive: true });
  await runChecked({ file: 'btrfs', args: ['subvolume', 'snapshot', '-r', source, destination] });
}

export async function show(path: string): Promise<ShownSubvolume> {
  return parseSubvolumeShow((await runChecked({ file: 'btrfs', args: ['subvolume', 'show', path] })).stdout);
}

/** Random (incompressible) data in files of up to 8 MiB. */
export async function writeRandomData(directory: string, totalMiB: number, prefix = 'file'): Promise<void> {
  await mkdir(directory, { recursive: true });
  let remaining = totalMiB;
  for (let index = 0; remaining > 0; index++) {
    const size = Math.min(8, remaining);
    await writeFile(join(directory, `${prefix}-${index}.bin`), randomBytes(size * 1024 * 1024));
    remaining -= size;
  }
}

function sha256(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => {
        resolve(hash.digest('hex'));
      })
      .on('error', reject);
  });
}

/** relative path → sha256 for every regular file below `root` (nested subvolumes excluded). */
export async function treeChecksums(root: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  const walk = async (directory: string): Promise<void> => {
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) await walk(path);
      else if (entry.isFile()) result[relative(root, path)] = await sha256(path);
    }
  };
  await walk(root);
  return result;
}

/**
 * The snapshots (or copies) in a snapshot directory or on a local target, sorted: every entry
 * but the `<name>.latest` pointers snapkeep keeps beside them.
 */
export async function snapshotsIn(directory: string): Promise<string[]> {
  return (await readdir(directory)).filter((name) => !name.endsWith('.latest')).sort();
}
