// btrfs-progs argv builders (pure). Every path that reaches argv is checked first: absolute, no
// `..`, no control characters — and because each is absolute it can never be read as an option.
import type { CommandSpec } from '../exec/command.js';
import { absolutePathProblem } from '../local-path.js';
import type { SendFeatures } from './send-features.js';

export function assertSafePath(path: string): string {
  // The same standard as the configuration's paths (one check, local-path.ts).
  const problem = absolutePathProblem(path);
  if (problem) throw new Error(`refusing unsafe path ${JSON.stringify(path)}: it ${problem}`);
  return path;
}

const btrfs = (...args: string[]): CommandSpec => ({ file: 'btrfs', args });

/**
 * All subvolumes of the filesystem containing `path`, with uuids and generations. -a: every path
 * relative to the top level (without it, subvolumes nested below `path` are printed relative to
 * `path`, e.g. the default `<subvolume>/.snapshots`).
 */
export const listSubvolumes = (path: string): CommandSpec =>
  btrfs('subvolume', 'list', '-a', '-u', '-q', '-R', '-c', '-g', assertSafePath(path));

/** Only the read-only subvolumes (the list output has no flags column). */
export const listReadonlySubvolumes = (path: string): CommandSpec =>
  btrfs('subvolume', 'list', '-r', assertSafePath(path));

export const showSubvolume = (path: string): CommandSpec => btrfs('subvolume', 'show', assertSafePath(path));

export const createReadonlySnapshot = (source: string, destination: string): CommandSpec =>
  btrfs('subvolume', 'snapshot', '-r', assertSafePath(source), assertSafePath(destination));

/** A writable snapshot: how a restored snapshot becomes a subvolume to work in again. */
export const createWritableSnapshot = (source: string, destination: string): CommandSpec =>
  btrfs('subvolume', 'snapshot', assertSafePath(source), assertSafePath(destination));

/**
 * `toFile`: write the stream to that path (a FIFO, see runJoinedByFifo) instead of stdout.
 * `features`: protocol 2 and compressed extents as they are (see send-features.ts); only where
 * the same btrfs-progs receives.
 */
export const sendSnapshot = (
  snapshot: string,
  parent?: string,
  toFile?: string,
  features: SendFeatures = { compressedData: false },
): CommandSpec =>
  btrfs(
    'send',
    '-q',
    ...(features.protocol === 2 ? ['--proto', '2'] : []),
    ...(features.protocol === 2 && features.compressedData ? ['--compressed-data'] : []),
    ...(toFile === undefined ? [] : ['-f', assertSafePath(toFile)]),
    ...(parent === undefined ? [] : ['-p', assertSafePath(parent)]),
    assertSafePath(snapshot),
  );

/**
 * The metadata of the stream `sendSnapshot(snapshot, parent)` sends, without file data (extents
 * become `update_extent` ranges): what a received copy is compared on (send-stream.ts reads it).
 */
export const sendMetadataOnly = (snapshot: string, parent?: string): CommandSpec =>
  btrfs(
    'send',
    '-q',
    '--no-data',
    ...(parent === undefined ? [] : ['-p', assertSafePath(parent)]),
    assertSafePath(snapshot),
  );

/**
 * Commit the filesystem holding `path`: a subvolume's generation moves only when its writes are
 * committed (up to the commit interval later), so an "unchanged?" decision commits first.
 */
export const syncFilesystem = (path: string): CommandSpec =>
  btrfs('filesystem', 'sync', assertSafePath(path));

/** `fromFile`: read the stream from that path (a FIFO) instead of stdin. */
export const receiveInto = (directory: string, fromFile?: string): CommandSpec =>
  btrfs(
    'receive',
    ...(fromFile === undefined ? [] : ['-f', assertSafePath(fromFile)]),
    assertSafePath(directory),
  );

/** -c: wait for the transaction commit, so a deletion reported done survives a crash. */
export const deleteSubvolumes = (paths: readonly string[]): CommandSpec =>
  btrfs('subvolume', 'delete', '-c', ...paths.map(assertSafePath));

export const filesystemUsage = (path: string): CommandSpec =>
  btrfs('filesystem', 'usage', '-b', assertSafePath(path));

/** The local ends of a compressed stream (the remote ends are in remote-request.ts). */
export const zstdCompress: CommandSpec = { file: 'zstd', args: ['-c', '-q'] };
export const zstdDecompress: CommandSpec = { file: 'zstd', args: ['-d', '-c', '-q'] };
