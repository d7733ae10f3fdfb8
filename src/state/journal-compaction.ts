// The journal stays bounded: when journal.ndjson has grown past a size (256 KiB by default, about a
// day of 4-hourly runs of 20 subvolumes), the run that is starting — it holds the lock, so
// no other run writes — folds the whole file with derive-status.ts and starts the journal again
// with one `checkpoint` line holding that fold. The old file is kept, read by nobody, as
// journal.d/journal-<time>.ndjson (the newest `keepArchives`; older ones are deleted), for people
// who want the full history. The archive is named after the last line it holds. Every reader folds from the checkpoint on, so what status, check and
// doctor logs answer is the answer of the whole history (each job's last attempt, last success
// and last failure, the last runs, pending snapshots, each schedule job's last run and last
// success for `schedule status | catch-up`), and its cost is that of the bounded file.
//
// Lines written meanwhile are never lost. The lock's holder writes none while it compacts, but a
// run without the lock (`snapshot --deadline`) or a line written after a run let go of the lock
// may come at any moment: those are written holding a shared flock(2) on the journal
// (journal.ts JournalWriter). Compaction reads and folds without it, writes the new file, then
// takes the journal's flock exclusively, carries over what was appended since it read (after
// the checkpoint line, so readers fold it onto the checkpoint), and moves the files while no
// such line can be written; a writer waiting for the lock then writes to the new journal.
// A compaction killed midway leaves at most its temporary file, which the next one removes.
import {
  appendFile,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
  type FileHandle,
} from 'node:fs/promises';
import { join } from 'node:path';
import { lockFileDescriptor } from '../exec/flock.js';
import { foldJournal } from './derive-status.js';
import { journalVersion, parseJournal, type CheckpointEvent } from './journal-events.js';
import { journalFileName } from './journal.js';
import { processProbe, type RunProbe } from './run-history.js';

export const defaultCompactBytes = 256 * 1024;
export const defaultKeepArchives = 12;
export const archiveDirectory = 'journal.d';

export interface CompactionOptions {
  /** Compact once the journal is at least this large (bytes). */
  readonly maxBytes?: number;
  readonly keepArchives?: number;
  readonly probe?: RunProbe;
  readonly now?: Date;
}

export type CompactionResult =
  | { readonly compacted: false; readonly reason: string }
  | {
      readonly compacted: true;
      readonly archived: string;
      readonly bytesBefore: number;
      readonly bytesAfter: number;
    };

/** Compact the journal if it is large enough. Call with the run lock held. */
export async function compactJournal(
  stateDir: string,
  options: CompactionOptions = {},
): Promise<CompactionResult> {
  const path = join(stateDir, journalFileName);
  const maxBytes = options.maxBytes ?? defaultCompactBytes;
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch {
    return { compacted: false, reason: 'no journal' };
  }
  if (size < maxBytes) return { compacted: false, reason: `${size} bytes, under ${maxBytes}` };
  await removeLeftovers(stateDir);
  const read = await readFile(path);
  // Up to the last whole line: a line being written as it was read is carried over whole below.
  const folded = read.lastIndexOf(0x0a) + 1;
  const { events } = parseJournal(read.subarray(0, folded).toString('utf8'));
  const { fold, running } = foldJournal(events, options.probe ?? processProbe);
  // A living run would lose its start: leave the journal as it is until it has ended.
  if (running.length > 0) return { compacted: false, reason: `run ${running.join(', ')} is still running` };
  const now = options.now ?? new Date();
  const through = events.at(-1)?.time ?? now.toISOString();
  // Named after the last line it holds: archives sort in the order of their history.
  const stamp = new Date(Date.parse(through) || now.getTime())
    .toISOString()
    .replace(/[-:.]/g, '')
    .slice(0, 15);
  const archives = join(stateDir, archiveDirectory);
  await mkdir(archives, { recursive: true });
  const archived = join(archiveDirectory, `journal-${stamp}.ndjson`);
  const checkpoint: CheckpointEvent = {
    v: journalVersion,
    time: now.toISOString(),
    run: 'checkpoint',
    event: 'checkpoint',
    through,
    archived,
    state: fold,
  };
  const line = `${JSON.stringify(checkpoint)}\n`;
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, line, { flag: 'wx' });
  let carried = 0;
  try {
    const moved = await whileNoOneAppends(path, async (journal) => {
      // What was appended since the read (a torn line from before is closed, never continued).
      const length = (await journal.stat()).size;
      if (length > folded) {
        const read = Buffer.alloc(length - folded);
        await journal.read(read, 0, read.length, folded);
        const tail = read.at(-1) === 0x0a ? read : Buffer.concat([read, Buffer.from('\n')]);
        await appendFile(temporary, tail);
        carried = tail.length;
      }
      // The old file stays whole under its archive name (a hard link: no copy), then the new one
      // replaces it in one rename: a reader sees the old journal or the new, never none.
      await unlink(join(stateDir, archived)).catch(() => undefined);
      await link(path, join(stateDir, archived));
      await rename(temporary, path);
    });
    if (!moved) {
      await rm(temporary, { force: true });
      return { compacted: false, reason: 'a line was being written for longer than the wait for it' };
    }
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  const names = (await readdir(archives)).filter((name) => /^journal-\d{8}T\d{6}\.ndjson$/.test(name)).sort();
  for (const name of names.slice(
    0,
    Math.max(0, names.length - (options.keepArchives ?? defaultKeepArchives)),
  ))
    await unlink(join(archives, name)).catch(() => undefined);
  return {
    compacted: true,
    archived,
    bytesBefore: size,
    bytesAfter: Buffer.byteLength(line) + carried,
  };
}

/** How long compaction waits for lines being written (each takes milliseconds). */
const appendWaitSeconds = 10;

/**
 * Run `move` holding the journal's flock exclusively (no JournalWriter line is being written or
 * can start); false when it could not be had in time. The descriptor is the journal `move`
 * replaces, so a writer that opened it before waits and then writes to the new file.
 */
async function whileNoOneAppends(
  path: string,
  move: (journal: FileHandle) => Promise<void>,
): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    if (!(await lockFileDescriptor(handle.fd, appendWaitSeconds))) return false;
    await move(handle);
    return true;
  } finally {
    await handle.close(); // lets go of the lock
  }
}

/** Temporary files of compactions that were killed (only the lock's holder compacts: not ours). */
async function removeLeftovers(stateDir: string): Promise<void> {
  const leftover = /^journal\.ndjson\.\d+\.tmp$/; // `${journalFileName}.<pid>.tmp`
  for (const name of await readdir(stateDir).catch(() => [] as string[]))
    if (leftover.test(name)) await rm(join(stateDir, name), { force: true });
}
