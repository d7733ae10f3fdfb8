// The `latest` pointer: `<directory>/<basename>.latest`, a symlink to the newest snapshot (or, in
// a local target's directory, the newest copy) by its relative name, so `cd /.snapshots/home.latest`
// and scripts reach the newest one without parsing names. It is not a subvolume, so neither
// snapkeep's inventory (`btrfs subvolume list`) nor btrbk's name scan (subvolumes only) ever takes
// it for a snapshot, and `<basename>.latest` is not a btrbk snapshot name (no timestamp).
// Only on this machine: the SSH target filter has no request for symlinks.
import { lstat, readlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runCommand, type CommandSpec } from '../exec/command.js';
import { assertSafePath } from './btrfs-commands.js';
import { localHost } from './inventory.js';

/** What is at the pointer's path now. */
export type PointerState =
  | { readonly kind: 'absent' }
  | { readonly kind: 'symlink'; readonly target: string }
  /** Something that is not a symlink (a file, a directory, a subvolume): never touched. */
  | { readonly kind: 'other'; readonly what: string };

export const latestPointerName = (basename: string): string => `${basename}.latest`;

export const latestPointerPath = (directory: string, basename: string): string =>
  join(directory, latestPointerName(basename));

export async function readLatestPointer(directory: string, basename: string): Promise<PointerState> {
  const path = latestPointerPath(directory, basename);
  let kind: string;
  try {
    const stats = await lstat(path);
    if (stats.isSymbolicLink()) return { kind: 'symlink', target: await readlink(path) };
    kind = stats.isDirectory() ? 'a directory' : stats.isFile() ? 'a file' : 'not a symlink';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    throw error;
  }
  return { kind: 'other', what: kind };
}

/**
 * Point the pointer at `path` to `name` (relative: it stays right when the disk is mounted
 * elsewhere), or remove it (`name` null). One `ln -sfnT`: GNU ln makes the new link under a
 * temporary name and renames it over the old one (rename(2)), which replaces it atomically, so a
 * reader sees the old pointer or the new one, never none. Written by processes, not by Node's own
 * file calls: on a hung or frozen disk those wait in a thread that keeps Node from exiting, and
 * `snapshot --deadline` must exit whatever the disk does.
 */
export async function writeLatestPointer(path: string, name: string | null): Promise<void> {
  const commands: CommandSpec[] = [];
  if (name === null) commands.push({ file: 'rm', args: ['-f', '--', assertSafePath(path)] });
  else {
    // Set before the first snapshot (see planSubvolume), the directory may not exist yet.
    if (!(await localHost.exists(dirname(path))))
      commands.push({ file: 'mkdir', args: ['-p', '--', assertSafePath(dirname(path))] });
    commands.push({ file: 'ln', args: ['-sfnT', '--', assertSnapshotName(name), assertSafePath(path)] });
  }
  for (const command of commands) {
    const result = await runCommand(command);
    if (result.exitCode !== 0)
      throw new Error(
        `cannot update the latest pointer ${path}: ${command.file} ${command.args.join(' ')}: ${result.stderr.trim() || `exit code ${result.exitCode}`}`,
      );
  }
}

/** A pointer names a snapshot in its own directory: one path component, never an option. */
function assertSnapshotName(name: string): string {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.startsWith('-'))
    throw new Error(`not a snapshot name for a latest pointer: ${JSON.stringify(name)}`);
  return name;
}
