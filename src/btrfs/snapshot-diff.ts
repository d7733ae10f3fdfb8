// `snapkeep diff`: what changed between two snapshots of one subvolume, read from the metadata of
// the incremental stream between them (`btrfs send --no-data -p OLDER NEWER`): the kernel has
// already compared the two trees, so this costs a read of the changed metadata, not of every file.
//
// A stream is a recipe, not a diff: new inodes start under orphan names (`o257-7-0`) and are
// renamed into place, a rename of a file with several links is a link plus an unlink, a deleted
// directory is first renamed to an orphan name, and a directory's rename moves everything below
// it. The fold below follows every path to its final name and back to the name it had in the
// older snapshot, and reports each change once, at the level it happened.

import type { ResolvedSubvolume } from '../config/resolve.js';
import { SnapkeepError, UsageError } from '../errors.js';
import { runConsumingStdout } from '../exec/command.js';
import { compareSnapshotDates } from '../snapshot-name.js';
import { sendMetadataOnly } from './btrfs-commands.js';
import { Inventory, type DatedSubvolume } from './inventory.js';
import { snapshotsIn } from './observe.js';
import { SendStreamDecoder } from './send-stream.js';

/** One stream command (the send stream parser's SendOperation). */
export interface DiffOperation {
  readonly command: string;
  readonly path: string;
  /** rename: the new path; link: the existing path the new one links to. */
  readonly destination?: string;
}

export type ChangeKind = 'added' | 'deleted' | 'modified' | 'renamed' | 'attributes';

export interface Change {
  readonly change: ChangeKind;
  /** The path in the newer snapshot (deleted: in the older one). */
  readonly path: string;
  /** renamed: the path in the older snapshot. */
  readonly from?: string;
  /** added by `link`: another name of the same file. */
  readonly linkOf?: string;
  readonly kind?: 'file' | 'directory' | 'symlink' | 'special';
  /** renamed: its contents changed too. */
  readonly modified?: boolean;
}

export interface SnapshotDiff {
  readonly changes: readonly Change[];
  readonly counts: Readonly<Record<ChangeKind, number>>;
}

interface Node {
  /** The path in the older snapshot; undefined for what is new. */
  readonly original: string | undefined;
  kind?: Change['kind'];
  data: boolean;
  attributes: boolean;
  linkOf?: string;
}

const created: Readonly<Record<string, Change['kind']>> = {
  mkfile: 'file',
  mkdir: 'directory',
  mknod: 'special',
  mkfifo: 'special',
  mksock: 'special',
  symlink: 'symlink',
};
const dataCommands = new Set(['write', 'update_extent', 'clone', 'truncate', 'encoded_write', 'fallocate']);
const attributeCommands = new Set([
  'chmod',
  'chown',
  'set_xattr',
  'remove_xattr',
  'fileattr',
  'enable_verity',
]);
/** Said for every change in a directory, or carrying no change a person looks for. */
const ignored = new Set(['subvol', 'snapshot', 'utimes', 'end']);

const parentOf = (path: string): string | undefined => {
  const at = path.lastIndexOf('/');
  return at < 0 ? (path === '' ? undefined : '') : path.slice(0, at);
};

export function diffOperations(operations: Iterable<DiffOperation>): SnapshotDiff {
  const nodes = new Map<string, Node>();
  const deleted: Change[] = [];
  /** The nodes below a path: a rename moves those too. */
  const below = (path: string): string[] => [...nodes.keys()].filter((key) => key.startsWith(`${path}/`));

  /** The node of a path as it is now, made from its older name on first sight. */
  const resolve = (path: string): Node => {
    const known = nodes.get(path);
    if (known) return known;
    // An ancestor renamed (or made) earlier decides where this path was in the older snapshot.
    let original: string | undefined = path;
    for (let ancestor = parentOf(path); ancestor !== undefined; ancestor = parentOf(ancestor)) {
      const node = nodes.get(ancestor);
      if (!node) continue;
      original =
        node.original === undefined ? undefined : joinPath(node.original, path.slice(ancestor.length + 1));
      break;
    }
    const node: Node = { original, data: false, attributes: false };
    nodes.set(path, node);
    return node;
  };

  const remove = (path: string): void => {
    const node = resolve(path);
    nodes.delete(path);
    if (node.original !== undefined)
      deleted.push({ change: 'deleted', path: node.original, ...kindOf(node) });
  };

  for (const operation of operations) {
    const { command, path } = operation;
    if (ignored.has(command)) continue;
    const kind = created[command];
    if (kind) {
      nodes.set(path, { original: undefined, kind, data: false, attributes: false });
    } else if (command === 'rename') {
      const to = operation.destination ?? '';
      if (to === '' || to === path) continue;
      // Over an existing name: what was there is gone (send unlinks it first where it can).
      if (nodes.has(to)) remove(to);
      resolve(path);
      for (const key of [path, ...below(path)]) {
        const node = nodes.get(key)!;
        nodes.delete(key);
        nodes.set(to + key.slice(path.length), node);
      }
    } else if (command === 'link') {
      const existing = operation.destination ?? '';
      const target = resolve(existing);
      nodes.set(path, {
        original: undefined,
        kind: 'file',
        data: false,
        attributes: false,
        linkOf: target.original ?? existing,
      });
    } else if (command === 'unlink' || command === 'rmdir') {
      const node = resolve(path);
      if (command === 'rmdir') node.kind = 'directory';
      remove(path);
    } else if (dataCommands.has(command)) {
      resolve(path).data = true;
    } else if (attributeCommands.has(command)) {
      resolve(path).attributes = true;
    }
  }

  const changes: Change[] = [];
  // A file renamed by link + unlink (it has other names): one rename, not an add and a delete.
  const deletedPaths = new Map(deleted.map((change) => [change.path, change]));
  for (const [path, node] of nodes) {
    if (path === '') {
      if (node.attributes) changes.push({ change: 'attributes', path: '.' });
      continue;
    }
    if (node.original === undefined) {
      const unlinked = node.linkOf !== undefined ? deletedPaths.get(node.linkOf) : undefined;
      if (unlinked && node.linkOf !== undefined) {
        deletedPaths.delete(node.linkOf);
        changes.push({
          change: 'renamed',
          path,
          from: node.linkOf,
          kind: 'file',
          ...(node.data ? { modified: true } : {}),
        });
      } else {
        changes.push({
          change: 'added',
          path,
          ...kindOf(node),
          ...(node.linkOf ? { linkOf: node.linkOf } : {}),
        });
      }
      continue;
    }
    if (node.original !== path && !movedWithAncestor(nodes, path, node.original)) {
      changes.push({
        change: 'renamed',
        path,
        from: node.original,
        ...kindOf(node),
        ...(node.data ? { modified: true } : {}),
      });
    } else if (node.data) {
      changes.push({ change: 'modified', path, ...kindOf(node) });
    } else if (node.attributes) {
      changes.push({ change: 'attributes', path, ...kindOf(node) });
    }
  }
  changes.push(...deletedPaths.values());
  // By code unit, not locale: the same order on every machine.
  const compare = (left: string, right: string): number => (left < right ? -1 : left > right ? 1 : 0);
  changes.sort((left, right) => compare(left.path, right.path) || compare(left.change, right.change));
  const counts = { added: 0, deleted: 0, modified: 0, renamed: 0, attributes: 0 };
  for (const change of changes) counts[change.change] += 1;
  return { changes, counts };
}

const joinPath = (base: string, rest: string): string =>
  base === '' ? rest : rest === '' ? base : `${base}/${rest}`;

const kindOf = (node: Node): { kind?: Change['kind'] } => (node.kind ? { kind: node.kind } : {});

/** The lines `snapkeep diff` prints for a change (git's letters). */
export function describeChange(change: Change): string {
  // Quoted (JSON escapes) when a name holds blanks, quotes, backslashes or control characters.
  const plain = (path: string): boolean =>
    Array.from(path).every((char) => char > ' ' && char !== '\x7f' && !`"'\\`.includes(char));
  const shown = (path: string, kind = change.kind): string =>
    `${plain(path) ? path : JSON.stringify(path)}${kind === 'directory' ? '/' : ''}`;
  switch (change.change) {
    case 'added':
      return `A  ${shown(change.path)}${change.linkOf ? `  (another name of ${shown(change.linkOf, 'file')})` : ''}`;
    case 'deleted':
      return `D  ${shown(change.path)}`;
    case 'modified':
      return `M  ${shown(change.path)}`;
    case 'attributes':
      return `a  ${shown(change.path)}  (mode, owner or xattrs)`;
    case 'renamed':
      return `R  ${shown(change.from ?? '')} → ${shown(change.path)}${change.modified ? '  (and modified)' : ''}`;
  }
}

/** True when a renamed ancestor explains the new name: the path is below it under the same name. */
function movedWithAncestor(nodes: ReadonlyMap<string, Node>, path: string, original: string): boolean {
  for (
    let ancestor = parentOf(path);
    ancestor !== undefined && ancestor !== '';
    ancestor = parentOf(ancestor)
  ) {
    const node = nodes.get(ancestor);
    if (!node) continue;
    if (node.original === undefined) return false;
    return joinPath(node.original, path.slice(ancestor.length + 1)) === original;
  }
  return false;
}

export interface DiffRequest {
  readonly subvolume: ResolvedSubvolume;
  /** Snapshot names, or "latest"; default: the newest and the one before it. */
  readonly from?: string;
  readonly to?: string;
}

export interface DiffResult extends SnapshotDiff {
  readonly subvolume: string;
  readonly from: string;
  readonly to: string;
}

/** Which two local snapshots to compare: names, "latest", or the newest two (pure). */
export function chooseSnapshots(
  snapshots: readonly DatedSubvolume[],
  request: Pick<DiffRequest, 'from' | 'to'>,
  subvolume: string,
): { from: DatedSubvolume; to: DatedSubvolume } {
  const sorted = [...snapshots].sort((left, right) => compareSnapshotDates(left.date, right.date));
  const named = (name: string, role: string): DatedSubvolume => {
    const found = name === 'latest' ? sorted.at(-1) : sorted.find((snapshot) => snapshot.name === name);
    if (!found)
      throw new UsageError(
        `${role} ${name}: ${subvolume} has no such snapshot here; its snapshots: ${sorted.map((snapshot) => snapshot.name).join(', ') || '(none)'}`,
      );
    return found;
  };
  const to = named(request.to ?? 'latest', 'to');
  if (request.from !== undefined) return { from: named(request.from, 'from'), to };
  const before = sorted.filter((snapshot) => compareSnapshotDates(snapshot.date, to.date) < 0).at(-1);
  if (!before)
    throw new UsageError(
      `${subvolume}: no snapshot older than ${to.name} to compare it with; name two: snapkeep diff ${subvolume} OLDER NEWER`,
    );
  return { from: before, to };
}

/**
 * The changes from one local snapshot to another: the metadata of `btrfs send --no-data -p FROM
 * TO`, read as it streams (only src/exec spawns it).
 */
export async function diffSnapshots(request: DiffRequest): Promise<DiffResult> {
  const { subvolume } = request;
  const snapshots = await snapshotsIn(new Inventory(), subvolume.snapshotDir, subvolume.snapshotName);
  const { from, to } = chooseSnapshots(snapshots, request, subvolume.name);
  const operations: DiffOperation[] = [];
  const { result, consumed } = await runConsumingStdout(
    sendMetadataOnly(to.path, from.path),
    async (chunks) => {
      const decoder = new SendStreamDecoder((operation) => operations.push(operation));
      for await (const chunk of chunks) decoder.push(chunk);
      decoder.finish();
      return true;
    },
  );
  if (result.exitCode !== 0 || consumed === undefined)
    throw new SnapkeepError(
      `cannot compare ${from.name} with ${to.name}: btrfs send failed: ${result.stderr.trim() || `exit ${result.exitCode ?? result.signal ?? '?'}`}`,
    );
  return { subvolume: subvolume.name, from: from.name, to: to.name, ...diffOperations(operations) };
}
