// Parsers for btrfs-progs output and /proc/self/mountinfo (pure). Anything unexpected is an
// error naming the line, never a silently wrong inventory.

export interface ListedSubvolume {
  readonly id: number;
  readonly generation: number;
  readonly creationGeneration: number;
  readonly parentUuid?: string;
  readonly receivedUuid?: string;
  readonly uuid: string;
  /** Path relative to the filesystem's top level (no leading slash). */
  readonly path: string;
}

const listLine =
  /^ID (\d+) gen (\d+) cgen (\d+) top level \d+ parent_uuid (\S+)\s+received_uuid (\S+)\s+uuid (\S+) path (.*)$/;

/** `btrfs subvolume list -a -u -q -R -c -g` */
export function parseSubvolumeList(output: string): ListedSubvolume[] {
  const subvolumes: ListedSubvolume[] = [];
  for (const line of output.split('\n')) {
    if (line.trim() === '') continue;
    const match = listLine.exec(line);
    if (!match) throw new Error(`unexpected line from "btrfs subvolume list": ${JSON.stringify(line)}`);
    const optionalUuid = (value: string): string | undefined => (value === '-' ? undefined : value);
    subvolumes.push({
      id: Number(match[1]),
      generation: Number(match[2]),
      creationGeneration: Number(match[3]),
      parentUuid: optionalUuid(match[4]!),
      receivedUuid: optionalUuid(match[5]!),
      uuid: match[6]!,
      path: stripTopLevelPrefix(match[7]!),
    });
  }
  return subvolumes;
}

function stripTopLevelPrefix(path: string): string {
  return path.startsWith('<FS_TREE>/') ? path.slice('<FS_TREE>/'.length) : path;
}

/** `btrfs subvolume list -r`: the ids of read-only subvolumes. */
export function parseReadonlyIds(output: string): Set<number> {
  const ids = new Set<number>();
  for (const line of output.split('\n')) {
    const match = /^ID (\d+) /.exec(line);
    if (match) ids.add(Number(match[1]));
  }
  return ids;
}

export interface ShownSubvolume {
  readonly name: string;
  readonly uuid: string;
  readonly parentUuid?: string;
  readonly receivedUuid?: string;
  readonly readonly: boolean;
  readonly generation: number;
  readonly creationGeneration: number;
  readonly id: number;
}

/** `btrfs subvolume show PATH` */
export function parseSubvolumeShow(output: string): ShownSubvolume {
  const fields = new Map<string, string>();
  for (const line of output.split('\n')) {
    const match = /^\s+([A-Za-z ()]+?):\s*(.*)$/.exec(line);
    if (match) fields.set(match[1]!, match[2]!.trim());
  }
  const required = (key: string): string => {
    const value = fields.get(key);
    if (value === undefined) throw new Error(`"btrfs subvolume show" output has no "${key}" field`);
    return value;
  };
  const optionalUuid = (key: string): string | undefined => {
    const value = fields.get(key);
    return value === undefined || value === '-' ? undefined : value;
  };
  return {
    name: required('Name'),
    uuid: required('UUID'),
    parentUuid: optionalUuid('Parent UUID'),
    receivedUuid: optionalUuid('Received UUID'),
    readonly: required('Flags')
      .split(/[\s,]+/)
      .includes('readonly'),
    generation: Number(required('Generation')),
    creationGeneration: Number(required('Gen at creation')),
    id: Number(required('Subvolume ID')),
  };
}

export interface MountEntry {
  readonly mountPoint: string;
  /** The subvolume path mounted there, relative to the top level ("/" for the top level). */
  readonly root: string;
  readonly fsType: string;
  readonly source: string;
  readonly majorMinor: string;
  /** Mounted read-only (the mount or the whole filesystem): every write fails with EROFS. */
  readonly readonly?: boolean;
}

const decodeMountField = (field: string): string =>
  field.replace(/\\([0-7]{3})/g, (_match, octal: string) => String.fromCharCode(parseInt(octal, 8)));

/** /proc/self/mountinfo */
export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const leftFields = left.split(' ');
    const rightFields = right.split(' ');
    entries.push({
      majorMinor: leftFields[2] ?? '',
      root: decodeMountField(leftFields[3] ?? '/'),
      mountPoint: decodeMountField(leftFields[4] ?? ''),
      fsType: rightFields[0] ?? '',
      source: decodeMountField(rightFields[1] ?? ''),
      readonly: [leftFields[5], rightFields[2]].some((options) => options?.split(',').includes('ro')),
    });
  }
  return entries;
}

/** The mount that contains `path` (longest mount-point prefix; later mounts shadow earlier ones). */
export function findMount(entries: readonly MountEntry[], path: string): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const entry of entries) {
    const prefix = entry.mountPoint === '/' ? '/' : `${entry.mountPoint}/`;
    if (path === entry.mountPoint || path.startsWith(prefix)) {
      if (!best || entry.mountPoint.length >= best.mountPoint.length) best = entry;
    }
  }
  return best;
}

/** Bytes free on a btrfs filesystem, from `btrfs filesystem usage -b` ("Free (estimated)"). */
export function parseFreeBytes(output: string): number | undefined {
  const match = /Free \(estimated\):\s+(\d+)/.exec(output);
  return match ? Number(match[1]) : undefined;
}

/** What one send stream changes, by path relative to the subvolume's root ('' is the root). */
export interface StreamChanges {
  /** Every path an operation touched, under its final name; removed ones included. */
  readonly paths: ReadonlySet<string>;
  /** The byte ranges written per path ([offset, length]), for content comparison. */
  readonly writes: ReadonlyMap<string, readonly (readonly [number, number])[]>;
}

const dumpEscapes: Record<string, string> = {
  a: '\u0007',
  b: '\b',
  e: '\u001b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  ' ': ' ',
  '\\': '\\',
};

/** A path as `btrfs receive --dump` prints it: backslash escapes, octal for other bytes. */
function unescapeDumpPath(text: string): string {
  if (!text.includes('\\')) return text;
  const bytes: number[] = [];
  for (let index = 0; index < text.length; index++) {
    const char = text[index]!;
    if (char !== '\\') {
      bytes.push(...Buffer.from(char, 'utf8'));
      continue;
    }
    const octal = /^[0-7]{3}/.exec(text.slice(index + 1));
    if (octal) {
      bytes.push(parseInt(octal[0], 8));
      index += 3;
    } else {
      const escaped = dumpEscapes[text[index + 1] ?? ''];
      if (escaped === undefined)
        throw new Error(`unexpected escape in a stream dump path: ${JSON.stringify(text)}`);
      bytes.push(...Buffer.from(escaped, 'utf8'));
      index += 1;
    }
  }
  return Buffer.from(bytes).toString('utf8');
}

/** A link's existing path, relative to the subvolume, whether or not it carries the prefix. */
function linkTarget(printed: string, linkPath: string): string {
  const path = unescapeDumpPath(printed);
  const prefix = /^\.\/[^/]+\//.exec(unescapeDumpPath(linkPath))?.[0];
  return (prefix && path.startsWith(prefix) ? path.slice(prefix.length) : path).replace(/\/$/, '');
}

/** Splits on unescaped whitespace. */
function dumpFields(line: string): string[] {
  return line.match(/(?:\\.|[^\s\\])+/g) ?? [];
}

/**
 * `btrfs send [--no-data] … | btrfs receive --dump`: the paths the stream touches, followed
 * through renames to the names they end with. Paths are printed as `./<subvolume>/<path>`.
 */
export function parseStreamDump(output: string): StreamChanges {
  const paths = new Set<string>();
  const writes = new Map<string, [number, number][]>();
  const relative = (printed: string): string => {
    const path = unescapeDumpPath(printed);
    // `s`: a file name may hold a newline.
    const match = /^\.\/[^/]+\/?(.*)$/s.exec(path);
    if (!match) throw new Error(`unexpected path in a stream dump: ${JSON.stringify(printed)}`);
    return match[1]!.replace(/\/$/, '');
  };
  // Paths that have something below them in `paths`: a rename moves entries below its source
  // only then, so the many renames of a full stream (each new inode starts under an orphan name)
  // cost one lookup each instead of a scan.
  const ancestors = new Map<string, number>();
  const eachAncestor = (path: string, visit: (ancestor: string) => void): void => {
    for (let at = path.lastIndexOf('/'); at > 0; at = path.lastIndexOf('/', at - 1)) visit(path.slice(0, at));
  };
  const add = (path: string): void => {
    if (paths.has(path)) return;
    paths.add(path);
    eachAncestor(path, (ancestor) => ancestors.set(ancestor, (ancestors.get(ancestor) ?? 0) + 1));
  };
  const remove = (path: string): void => {
    if (!paths.delete(path)) return;
    eachAncestor(path, (ancestor) => {
      const count = (ancestors.get(ancestor) ?? 1) - 1;
      if (count === 0) ancestors.delete(ancestor);
      else ancestors.set(ancestor, count);
    });
  };
  const rename = (from: string, to: string): void => {
    const below = ancestors.has(from) ? [...paths].filter((key) => key.startsWith(`${from}/`)) : [];
    for (const key of [from, ...below]) {
      const moved = to + key.slice(from.length);
      if (paths.has(key)) {
        remove(key);
        add(moved);
      }
      const written = writes.get(key); // every written path is in `paths` too
      if (written) {
        writes.delete(key);
        writes.set(moved, written);
      }
    }
  };
  for (const line of output.split('\n')) {
    if (line.trim() === '') continue;
    const [command, printedPath, ...rest] = dumpFields(line);
    if (command === undefined || printedPath === undefined)
      throw new Error(`unexpected line in a stream dump: ${JSON.stringify(line)}`);
    const options = new Map(
      rest.map((field) => {
        const at = field.indexOf('=');
        return [field.slice(0, at), field.slice(at + 1)] as const;
      }),
    );
    if (command === 'subvol' || command === 'snapshot') {
      add('');
      continue;
    }
    const path = relative(printedPath);
    if (command === 'rename') {
      const destination = relative(options.get('dest') ?? '');
      rename(path, destination);
      add(path); // the old name must be gone from the copy too
      add(destination);
      continue;
    }
    add(path);
    // `link NEW dest=EXISTING`: unlike rename's, link's dest is printed as the stream carries it,
    // relative to the subvolume without the `./<subvolume>/` prefix (btrfs-progs 6.2).
    if (command === 'link') add(linkTarget(options.get('dest') ?? '', printedPath));
    if (
      command === 'write' ||
      command === 'update_extent' ||
      command === 'encoded_write' ||
      command === 'clone'
    ) {
      const offset = Number(options.get('offset'));
      const length = Number(options.get('len') ?? options.get('unencoded_len') ?? 0);
      if (Number.isFinite(offset) && Number.isFinite(length) && length > 0)
        writes.set(path, [...(writes.get(path) ?? []), [offset, length]]);
    }
  }
  return { paths, writes };
}
