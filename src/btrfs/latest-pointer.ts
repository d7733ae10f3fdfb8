// The `latest` pointer: `<directory>/<basename>.latest`, a symlink to the newest snapshot (or, in
// a local target's directory, the newest copy) by its relative name, so `cd /.snapshots/home.latest`
// and scripts reach the newest one without parsing names. It is not a subvolume, so neither
// snapkeep's inventory (`btrfs subvolume list`) nor btrbk's name scan (subvolumes only) ever takes
// it for a snapshot, and `<basename>.latest` is not a btrbk snapshot name (no timestamp).
// Only on this machine: the SSH target filter has no request for symlinks.
import { lstat, mkdir, readlink, rename, symlink, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { messageOf } from '../errors.js';
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

/** How a pointer is written: by this process's own file calls, or only by child processes. */
export type PointerWrites = 'file-calls' | 'processes';

let temporaryCount = 0;

/**
 * Point the pointer at `path` to `name` (relative: it stays right when the disk is mounted
 * elsewhere), or remove it (`name` null). The new link is made under a temporary name in the same
 * directory and renamed over the old one (rename(2) replaces it atomically), so a reader sees the
 * old pointer or the new one, never none.
 *
 * `processes` (`snapshot --deadline`): by `ln -sfnT` (GNU ln does the same rename) and `rm`, never
 * by Node's file calls, because on a hung or frozen disk those wait in a thread that keeps Node
 * from exiting, and the pre-sleep run must exit whatever the disk does. Otherwise by file calls: a
 * process per pointer costs a fork of this whole process on its main thread, twice per subvolume.
 */
export async function writeLatestPointer(
  path: string,
  name: string | null,
  writes: PointerWrites = 'file-calls',
): Promise<void> {
  assertSafePath(path);
  if (name !== null) assertSnapshotName(name);
  if (writes === 'processes') return writeByProcesses(path, name);
  try {
    if (name === null) {
      await unlink(path).catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      });
      return;
    }
    // Set before the first snapshot (see planSubvolume), the directory may not exist yet.
    await mkdir(dirname(path), { recursive: true });
    // Hidden, and unique per process and write (two subvolumes may set pointers in one directory).
    // Only a crash between the two calls leaves it behind: a symlink, which no listing counts.
    const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${temporaryCount++}`);
    await symlink(name, temporary);
    await rename(temporary, path).catch(async (error: unknown) => {
      await unlink(temporary).catch(() => undefined);
      throw error;
    });
  } catch (error) {
    throw new Error(`cannot update the latest pointer ${path}: ${messageOf(error)}`);
  }
}

async function writeByProcesses(path: string, name: string | null): Promise<void> {
  const commands: CommandSpec[] = [];
  if (name === null) commands.push({ file: 'rm', args: ['-f', '--', path] });
  else {
    if (!(await localHost.exists(dirname(path))))
      commands.push({ file: 'mkdir', args: ['-p', '--', dirname(path)] });
    commands.push({ file: 'ln', args: ['-sfnT', '--', name, path] });
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
