// The `latest` pointer: `<directory>/<basename>.latest`, a symlink to the newest snapshot (or, in
// a local target's directory, the newest copy) by its relative name, so `cd /.snapshots/home.latest`
// and scripts reach the newest one without parsing names. It is not a subvolume, so neither
// snapkeep's inventory (`btrfs subvolume list`) nor btrbk's name scan (subvolumes only) ever takes
// it for a snapshot, and `<basename>.latest` is not a btrbk snapshot name (no timestamp).
// Only on this machine: the SSH target filter has no request for symlinks.
import { lstat, mkdir, readlink, rename, rm, symlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

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
 * elsewhere), or remove it (`name` null). The new link is made under a temporary name and renamed
 * over the old one: rename(2) replaces it atomically, so a reader sees the old pointer or the new
 * one, never none.
 */
export async function writeLatestPointer(path: string, name: string | null): Promise<void> {
  if (name === null) {
    await rm(path, { force: true });
    return;
  }
  // Before the first snapshot (set just before it) the directory may not exist yet.
  await mkdir(dirname(path), { recursive: true });
  // A dot name: not a btrbk name, and hidden from `ls`. The pid keeps two writers apart.
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  await rm(temporary, { force: true });
  await symlink(name, temporary);
  try {
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}
