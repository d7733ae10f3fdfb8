// The table checksums each backup run took while dumping, kept in the state directory per set and
// run (`<state_dir>/checksums/<set>/<run>.json`, database → table → rows and checksum), so the
// restore drill (`verify --drill`) can compare a restored run with what was dumped.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { TableChecksums } from './checksums.js';

export const checksumsPath = (stateDir: string, set: string, run: string): string =>
  join(stateDir, 'checksums', set, `${run}.json`);

/** Record a run's checksums by database; nothing is written when the run has none. */
export async function recordChecksums(
  stateDir: string,
  set: string,
  run: string,
  byDatabase: Readonly<Record<string, TableChecksums>>,
): Promise<void> {
  if (Object.keys(byDatabase).length === 0) return;
  const path = checksumsPath(stateDir, set, run);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(byDatabase, null, 2)}\n`);
}

/** A run's recorded checksums; none when not recorded here (a run from another host, or older). */
export async function readRecordedChecksums(
  stateDir: string,
  set: string,
  run: string,
): Promise<Record<string, TableChecksums>> {
  try {
    return JSON.parse(await readFile(checksumsPath(stateDir, set, run), 'utf8')) as Record<
      string,
      TableChecksums
    >;
  } catch {
    return {};
  }
}
