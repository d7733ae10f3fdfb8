// The journal stays bounded: when journal.ndjson has grown past a size (256 KiB by default, about a
// day of 4-hourly runs of 20 subvolumes), the run that is starting — it holds the lock, so
// no other run writes — folds the whole file with derive-status.ts and starts the journal again
// with one `checkpoint` line holding that fold. The old file is kept, read by nobody, as
// journal.d/journal-<time>.ndjson (the newest `keepArchives`; older ones are deleted), for people
// who want the full history. The archive is named after the last line it holds. Every reader folds from the checkpoint on, so what status, check and
// doctor logs answer is the answer of the whole history (each job's last attempt, last success
// and last failure, the last runs, pending snapshots), and its cost is that of the bounded file.
import { link, mkdir, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
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
  const text = await readFile(path, 'utf8');
  const { events } = parseJournal(text);
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
  await writeFile(temporary, line);
  // The old file stays whole under its archive name (a hard link: no copy), then the new one
  // replaces it in one rename: a reader sees the old journal or the new, never none.
  await unlink(join(stateDir, archived)).catch(() => undefined);
  await link(path, join(stateDir, archived));
  await rename(temporary, path);
  const names = (await readdir(archives)).filter((name) => /^journal-\d{8}T\d{6}\.ndjson$/.test(name)).sort();
  for (const name of names.slice(
    0,
    Math.max(0, names.length - (options.keepArchives ?? defaultKeepArchives)),
  ))
    await unlink(join(archives, name)).catch(() => undefined);
  return { compacted: true, archived, bytesBefore: size, bytesAfter: Buffer.byteLength(line) };
}
