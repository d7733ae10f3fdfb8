// `doctor sources`: large cache directories inside a snapshotted subvolume. A btrfs snapshot has
// no excludes: every snapshot keeps what ~/.cache held then, and every send copies its churn.
// The answer is a nested subvolume at that path: snapshots stop at subvolume boundaries (btrbk's
// answer too). Only directories that are not already subvolumes count.
import { lstat, opendir } from 'node:fs/promises';
import { join } from 'node:path';
import { scope, type CheckResult } from './check.js';

/** Where caches usually are, relative to a subvolume: `*` is every directory at that level. */
export const cachePatterns = [
  '.cache',
  '*/.cache',
  'var/cache',
  '.local/share/Trash',
  '*/.local/share/Trash',
  'var/tmp',
] as const;

/** Above this a cache is reported. */
export const largeCacheBytes = 512 * 1024 ** 2;

export interface CacheObservation {
  readonly path: string;
  /** Bytes allocated, counted up to a bound (`atLeast` when the count stopped there). */
  readonly bytes: number;
  readonly atLeast: boolean;
}

export interface SourceObservations {
  readonly subvolume: string;
  readonly path: string;
  readonly caches: readonly CacheObservation[];
  /** Why the subvolume could not be looked into. */
  readonly error?: string;
}

const mib = (bytes: number): string =>
  bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GiB` : `${Math.round(bytes / 1024 ** 2)} MiB`;

/** The path's shell-quoted form for a fix line. */
const quote = (path: string): string =>
  /^[\w@%+=:,./-]+$/.test(path) ? path : `'${path.replaceAll("'", "'\\''")}'`;

export function sourceChecks(observed: SourceObservations): CheckResult[] {
  const checks = scope('sources', observed.subvolume);
  if (observed.error)
    return [
      checks.skip('caches', 'cache directories', `${observed.path} could not be read: ${observed.error}`),
    ];
  const large = observed.caches.filter((cache) => cache.bytes >= largeCacheBytes);
  if (large.length === 0)
    return [
      checks.ok(
        'caches',
        'cache directories',
        `no cache directory over ${mib(largeCacheBytes)} inside ${observed.path} (nested subvolumes are not in its snapshots)`,
      ),
    ];
  return large.map((cache) =>
    checks.warn(
      'caches',
      'cache directories',
      `${cache.path} holds ${cache.atLeast ? 'at least ' : ''}${mib(cache.bytes)} inside ${observed.path}`,
      'a snapshot has no excludes: every snapshot keeps this cache and every send copies its changes',
      [
        `make it a nested subvolume (snapshots stop there), with the programs using it stopped:`,
        `mv ${quote(cache.path)} ${quote(`${cache.path}.old`)} && btrfs subvolume create ${quote(cache.path)} && chown --reference=${quote(`${cache.path}.old`)} ${quote(cache.path)} && chmod --reference=${quote(`${cache.path}.old`)} ${quote(cache.path)} && rm -rf ${quote(`${cache.path}.old`)}`,
      ],
    ),
  );
}

/** A btrfs subvolume's root directory has inode number 256. */
const subvolumeRootInode = 256;

/** Allocated bytes below `directory`, not crossing into nested subvolumes, stopping at `bound`. */
async function allocatedBytes(
  directory: string,
  bound: number,
): Promise<{ bytes: number; atLeast: boolean }> {
  let bytes = 0;
  const pending = [directory];
  while (pending.length > 0) {
    const current = pending.pop()!;
    let handle;
    try {
      handle = await opendir(current);
    } catch {
      continue; // vanished or unreadable: a cache changes while it is counted
    }
    for await (const entry of handle) {
      const path = join(current, entry.name);
      const stats = await lstat(path).catch(() => undefined);
      if (!stats) continue;
      if (entry.isDirectory()) {
        if (stats.ino !== subvolumeRootInode) pending.push(path);
        continue;
      }
      bytes += stats.blocks * 512;
      if (bytes >= bound) return { bytes, atLeast: true };
    }
  }
  return { bytes, atLeast: false };
}

/** The candidate directories of cachePatterns that exist and are not subvolumes of their own. */
async function candidates(root: string): Promise<string[]> {
  const found: string[] = [];
  for (const pattern of cachePatterns) {
    const [first, ...rest] = pattern.split('/');
    const bases =
      first === '*'
        ? await opendir(root)
            .then(async (handle) => {
              const names: string[] = [];
              for await (const entry of handle) if (entry.isDirectory()) names.push(join(root, entry.name));
              return names;
            })
            .catch(() => [])
        : [join(root, first!)];
    for (const base of bases) {
      const path = join(base, ...rest);
      const stats = await lstat(path).catch(() => undefined);
      if (stats?.isDirectory() && stats.ino !== subvolumeRootInode) found.push(path);
    }
  }
  return found;
}

export async function observeSource(subvolume: string, path: string): Promise<SourceObservations> {
  try {
    const caches: CacheObservation[] = [];
    for (const cache of await candidates(path))
      caches.push({ path: cache, ...(await allocatedBytes(cache, largeCacheBytes * 4)) });
    return { subvolume, path, caches };
  } catch (error) {
    return { subvolume, path, caches: [], error: error instanceof Error ? error.message : String(error) };
  }
}
