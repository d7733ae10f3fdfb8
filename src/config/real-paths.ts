// Where the configuration's local directories really are, for the overlap checks
// (path-conflicts.ts). A symlink can put a target inside its source subvolume or onto a
// snapshot_dir although the spelled paths differ, so the loader compares real paths too. This
// is the only part of validation that reads the disk; it runs on every load (also when the
// validated configuration comes from the cache), because the disk changes without the file.
// Synchronous: a few dozen lookups at start-up cost less than as many thread-pool round trips.
import { realpathSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { normalisePath } from '../local-path.js';
import { localPathsOf, type RealPaths } from './path-conflicts.js';
import type { ResolvedConfig } from './resolve.js';

/**
 * The real path of `path`: its own when it exists, else its nearest existing ancestor's with the
 * rest appended (a target directory is often created by the first run). Undefined when nothing
 * can be resolved (permissions): the spelled path is compared then.
 */
function realPathOf(path: string): string | undefined {
  try {
    return realpathSync.native(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if ((code !== 'ENOENT' && code !== 'ENOTDIR') || path === '/') return undefined;
    const parent = realPathOf(dirname(path));
    return parent === undefined ? undefined : join(parent, basename(path));
  }
}

/** The local paths whose real path differs from their spelling, with that real path. */
export function realPathsOf(resolved: ResolvedConfig): RealPaths {
  const paths = localPathsOf(resolved);
  const reals = paths.map(realPathOf);
  const found = new Map<string, string>();
  paths.forEach((path, index) => {
    const real = reals[index];
    if (real !== undefined && real !== normalisePath(path)) found.set(path, real);
  });
  return found;
}
