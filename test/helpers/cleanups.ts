// What a test sets up (loop filesystems, temp dirs, servers, processes) it registers here as it
// goes; the cleanups run in reverse order after each test (or, with `afterAll`, after the file's
// or describe block's tests), also when a test or the setup failed.
import { rm } from 'node:fs/promises';
import { afterEach } from 'vitest';
import { createLoopBtrfs, makeTempDir, type LoopBtrfs } from './loop-btrfs.js';

type Cleanup = () => Promise<unknown>;

export interface Cleanups {
  push(cleanup: Cleanup): void;
  /** createLoopBtrfs, unmounted and removed in cleanup. */
  loopBtrfs(label: string, sizeMiB?: number, options?: readonly string[]): Promise<LoopBtrfs>;
  /** makeTempDir, removed in cleanup. */
  tempDir(prefix: string): Promise<string>;
}

export function useCleanups(after: (hook: () => Promise<void>) => void = afterEach): Cleanups {
  const cleanups: Cleanup[] = [];
  after(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const push = (cleanup: Cleanup): void => void cleanups.push(cleanup);
  return {
    push,
    async loopBtrfs(label, sizeMiB, options) {
      const made = await createLoopBtrfs(label, sizeMiB, options);
      push(() => made.cleanup());
      return made;
    },
    async tempDir(prefix) {
      const directory = await makeTempDir(prefix);
      push(() => rm(directory, { recursive: true, force: true }));
      return directory;
    },
  };
}
