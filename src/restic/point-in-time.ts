// The exact (point-in-time) restore of a folder: what is at the target but not in the snapshot —
// files created after the backup — is moved aside into a sibling directory (a rename on the same
// filesystem, never a delete) before restic restores the snapshot, so the folder ends up as it
// was at the backup. Files the backup excluded were never in it and stay where they are.
import type { Dirent } from 'node:fs';
import { lstat, mkdir, readdir, readlink, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { isSystemError } from '../errors.js';
import type { SnapshotNode } from './restic.js';

/** The names of moved-aside directories start with this (after the folder's own name). */
export const movedAsideMarker = '.snapkeep-moved-';

/** One component of a restic pattern as Go's filepath.Match reads it, as a RegExp (undefined: malformed). */
function componentPattern(pattern: string): RegExp | undefined {
  let source = '';
  for (let index = 0; index < pattern.length; index++) {
    const char = pattern[index]!;
    if (char === '*') source += '[^/]*';
    else if (char === '?') source += '[^/]';
    else if (char === '\\') {
      const next = pattern[++index];
      if (next === undefined) return undefined;
      source += next.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
    } else if (char === '[') {
      const end = pattern.indexOf(']', index + 2);
      if (end < 0) return undefined;
      let inside = pattern.slice(index + 1, end);
      const negated = inside.startsWith('^');
      if (negated) inside = inside.slice(1);
      source += `[${negated ? '^' : ''}${inside.replace(/[\]\\^]/g, '\\$&')}]`;
      index = end;
    } else source += char.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
  }
  try {
    return new RegExp(`^${source}$`);
  } catch {
    return undefined;
  }
}

function partsMatch(parts: readonly string[], names: readonly string[]): boolean {
  if (parts.length === 0) return names.length === 0;
  const [head, ...rest] = parts as [string, ...string[]];
  if (head === '**') {
    for (let skipped = 0; skipped <= names.length; skipped++)
      if (partsMatch(rest, names.slice(skipped))) return true;
    return false;
  }
  if (names.length === 0) return false;
  return (componentPattern(head)?.test(names[0]!) ?? false) && partsMatch(rest, names.slice(1));
}

/**
 * Whether restic's `--exclude` patterns leave out this absolute path (restic's internal/filter):
 * a pattern is split at "/", one not starting with "/" may match at any depth, "**" matches any
 * number of directories, every other part is a filepath.Match pattern (* ? [..] \). Negated
 * (!) patterns and $VARIABLES are not read: such a file is moved aside, never lost.
 */
export function excludedBy(patterns: readonly string[], path: string): boolean {
  const names = path.split('/');
  return patterns.some((pattern) => {
    const cleaned = pattern.replace(/\/+$/, '');
    if (cleaned === '' || cleaned.startsWith('!')) return false;
    const parts = cleaned.split('/');
    return partsMatch(parts[0] === '' ? parts : ['**', ...parts], names);
  });
}

function typeOf(entry: Dirent): string {
  if (entry.isDirectory()) return 'dir';
  if (entry.isSymbolicLink()) return 'symlink';
  if (entry.isFile()) return 'file';
  if (entry.isFIFO()) return 'fifo';
  if (entry.isSocket()) return 'socket';
  if (entry.isCharacterDevice()) return 'chardev';
  return 'dev';
}

/**
 * What is at `target` (where the snapshot's `path` is restored) and not in the snapshot, or there
 * as another kind (a file where the snapshot has a directory): paths relative to target, sorted,
 * the topmost only (a directory not in the snapshot is moved whole). Excluded paths (matched as
 * `path` + the relative path, what the backup saw) and earlier moved-aside directories are left.
 */
export async function entriesNotInSnapshot(
  target: string,
  path: string,
  nodes: readonly SnapshotNode[],
  exclude: readonly string[],
): Promise<string[]> {
  const below = path.endsWith('/') ? path : `${path}/`;
  const tree = new Map<string, string>();
  for (const node of nodes) tree.set(node.path === path ? '' : node.path.slice(below.length), node.type);
  const found: string[] = [];
  const walk = async (relative: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(join(target, relative), { withFileTypes: true });
    } catch (error) {
      if (isSystemError(error) && (error.code === 'ENOENT' || error.code === 'ENOTDIR')) return;
      throw error;
    }
    for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const child = relative === '' ? entry.name : `${relative}/${entry.name}`;
      const type = typeOf(entry);
      const had = tree.get(child);
      if (had === type) {
        if (type === 'dir') await walk(child);
        continue;
      }
      if (relative === '' && had === undefined && entry.name.startsWith(movedAsideMarker)) continue;
      if (excludedBy(exclude, `${below}${child}`)) continue;
      found.push(child);
    }
  };
  if (tree.get('') === 'dir') await walk('');
  return found;
}

/**
 * Of `paths` (entries of target not in the snapshot, from entriesNotInSnapshot), each symbolic
 * link where the snapshot has a directory, with where it points: a merge restore would write the
 * run's files through it (restic 0.14 follows it, out of the folder) or replace it (0.18).
 */
export async function linksOverDirectories(
  target: string,
  path: string,
  nodes: readonly SnapshotNode[],
  paths: readonly string[],
): Promise<{ readonly path: string; readonly to: string }[]> {
  const below = path.endsWith('/') ? path : `${path}/`;
  const directories = new Set(nodes.filter((node) => node.type === 'dir').map((node) => node.path));
  const found: { path: string; to: string }[] = [];
  for (const relative of paths) {
    if (!directories.has(`${below}${relative}`)) continue;
    const at = join(target, relative);
    const info = await lstat(at).catch(() => undefined);
    if (info?.isSymbolicLink()) found.push({ path: at, to: await readlink(at) });
  }
  return found;
}

/**
 * The first file under `target` with more than one name (hard links), or undefined. restic before
 * 0.18 restoring in place keeps only one name of such a file and removes the others (measured
 * with 0.14: `restic restore --target /` over a folder with h1 and its link h2 leaves h1 alone).
 */
export async function firstHardLinkedFile(target: string): Promise<string | undefined> {
  let entries: Dirent[];
  try {
    entries = await readdir(target, { withFileTypes: true });
  } catch {
    return undefined;
  }
  for (const entry of entries) {
    const path = join(target, entry.name);
    if (entry.isDirectory()) {
      const found = await firstHardLinkedFile(path);
      if (found) return found;
    } else if (entry.isFile() && ((await lstat(path).catch(() => undefined))?.nlink ?? 1) > 1) {
      return path;
    }
  }
  return undefined;
}

/** `20261203T064500Z`: sorts by time, no characters a shell or a file system minds. */
export const asideStamp = (at: Date): string =>
  at
    .toISOString()
    .replace(/\.\d+Z$/, 'Z')
    .replace(/[-:]/g, '');

/**
 * Where entries of `target` are moved: its sibling `<target>.snapkeep-moved-<stamp>`, or, when
 * target is a mount point (its parent is another filesystem, where a rename cannot go), inside it
 * as `.snapkeep-moved-<stamp>`.
 */
export async function asideDirectory(target: string, stamp: string): Promise<string> {
  const sibling = `${target}${movedAsideMarker}${stamp}`;
  try {
    const [own, parent] = await Promise.all([stat(target), stat(dirname(target))]);
    return own.dev === parent.dev ? sibling : join(target, `${movedAsideMarker}${stamp}`);
  } catch {
    return sibling; // no target yet: nothing will be moved
  }
}

/**
 * Move each entry (relative to target) to the same relative path under a new directory made from
 * `directory` (`-2`, `-3` … when a restore in the same second made one); where they went.
 */
export async function moveAside(
  target: string,
  paths: readonly string[],
  directory: string,
): Promise<string> {
  let claimed = directory;
  for (let attempt = 2; ; attempt++) {
    try {
      await mkdir(claimed, { mode: 0o700 });
      break;
    } catch (error) {
      if (!isSystemError(error) || error.code !== 'EEXIST') throw error;
      claimed = `${directory}-${attempt}`;
    }
  }
  for (const [index, relative] of paths.entries()) {
    const to = join(claimed, relative);
    await mkdir(dirname(to), { recursive: true });
    try {
      await rename(join(target, relative), to);
    } catch (error) {
      // A bind mount has its parent's st_dev, so asideDirectory took it for a plain folder; the
      // rename across the mount says so. Nothing moved yet: inside the folder instead.
      const inside = join(target, basename(directory).slice(basename(target).length));
      if (
        index > 0 ||
        dirname(directory) !== dirname(target) ||
        !isSystemError(error) ||
        error.code !== 'EXDEV'
      )
        throw error;
      await rm(claimed, { recursive: true });
      return moveAside(target, paths, inside);
    }
  }
  return claimed;
}
