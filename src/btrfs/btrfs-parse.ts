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
