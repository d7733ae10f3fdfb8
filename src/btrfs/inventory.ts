// What exists on btrfs: subvolumes with uuids, relations and flags. Each filesystem is listed once
// per run (one `btrfs subvolume list`, plus `list -r` for the read-only flags where the kernel
// cannot be asked directly) however many snapshots it holds; after a run's changes, observe.ts
// derives the new state from the steps instead of listing again. A Host is this machine or an
// SSH host (remote/ssh-host.ts).
import { accessSync, constants as fsConstants } from 'node:fs';
import { access, mkdir, readdir, readFile, readlink, realpath } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, posix } from 'node:path';
import { runCommand, type CommandResult } from '../exec/command.js';
import type { Host } from '../remote/host.js';
import { listReadonlySubvolumes, listSubvolumes } from './btrfs-commands.js';
import {
  findMount,
  parseMountinfo,
  parseReadonlyIds,
  parseSubvolumeList,
  type ListedSubvolume,
  type MountEntry,
  type ShownSubvolume,
} from './btrfs-parse.js';
import { parseSnapshotName, type SnapshotDate } from '../snapshot-name.js';

/** A subvolume as listed or shown, and where it is. */
export interface Subvolume extends ShownSubvolume {
  /** Absolute path on its host. */
  readonly path: string;
}

export interface DatedSubvolume extends Subvolume {
  readonly date: SnapshotDate;
}

/**
 * Live `btrfs receive` processes into `directory`, from /proc: a receive works by path, so one
 * left running by a killed run (or started by another tool) would write into whatever is at its
 * path, including a subvolume made there after its own was deleted. Its directory is its last
 * argument (btrfs-progs' usage, and receiveInto's), relative to its working directory.
 */
async function liveReceivesInto(directory: string): Promise<number[]> {
  const wanted = await realpath(directory).catch(() => directory);
  const found: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const args = await readFile(`/proc/${entry}/cmdline`)
      .then((raw) => raw.toString('utf8').split('\0').slice(0, -1))
      .catch(() => []);
    if (args.length < 3 || basename(args[0]!) !== 'btrfs' || !args.slice(1, -1).includes('receive')) continue;
    const argument = args.at(-1)!;
    const cwd = isAbsolute(argument) ? '/' : await readlink(`/proc/${entry}/cwd`).catch(() => undefined);
    if (cwd === undefined) continue;
    const receiving = await realpath(join(cwd, argument)).catch(() => join(cwd, argument));
    if (receiving === wanted) found.push(Number(entry));
  }
  return found;
}

/**
 * The read-only flag of subvolumes from access(2): btrfs answers a write-access check on a
 * read-only subvolume's directory with EROFS before any permission check (btrfs_permission). A
 * few microseconds per subvolume instead of a second `btrfs subvolume list -r` process per
 * filesystem, which on a small machine is a visible share of a run that has nothing to send.
 * Only valid on a read-write mount whose paths no other mount hides; the caller checks that.
 */
function readonlyByAccess(paths: readonly string[]): Set<string> | undefined {
  const readonly = new Set<string>();
  for (const path of paths) {
    try {
      accessSync(path, fsConstants.W_OK);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EROFS') return undefined;
      readonly.add(path);
    }
  }
  return readonly;
}

/**
 * Up to this many subvolumes the kernel is asked about each (readonlyAmong); beyond, one `btrfs
 * subvolume list -r` is cheaper: an access(2) that fails costs Node an exception (~20 µs), ten
 * thousand snapshots ~0.2 s, while the list answers for all of them in one process.
 */
export const readonlyByKernelLimit = 500;

export const localHost: Host = {
  label: 'local',
  compression: 'none',
  prepare: (spec) => Promise.resolve(spec),
  run: runCommand,
  realpath: (path) => realpath(path),
  exists: (path) =>
    access(path).then(
      () => true,
      () => false,
    ),
  makeDirectory: async (path) => {
    await mkdir(path, { recursive: true });
  },
  mountinfo: () => readFile('/proc/self/mountinfo', 'utf8'),
  readonlyAmong: readonlyByAccess,
  receivesInto: liveReceivesInto,
};

export class NotBtrfsError extends Error {}

/** The list commands of one filesystem, started (readonlyIds: only for hosts without readonlyAmong). */
interface ListingReads {
  readonly all: Promise<CommandResult>;
  readonly readonlyIds: Promise<CommandResult> | undefined;
}

/** One listing's subvolumes as paths on this host, before their read-only flags are known. */
interface ListedFilesystem {
  readonly mount: MountEntry;
  readonly listed: readonly ListedSubvolume[];
  /** From `btrfs subvolume list -r`, when it was read along. */
  readonly readonlyIds?: ReadonlySet<number>;
}

interface FilesystemListing {
  readonly mount: MountEntry;
  readonly subvolumes: readonly Subvolume[];
  /** By path, and by the directory they are in (made on first use). */
  readonly byPath: ReadonlyMap<string, Subvolume>;
  byDirectory?: Map<string, Subvolume[]>;
  /** datedIn's answers: per directory as asked, the dated subvolumes by basename. */
  dated?: Map<string, Map<string, DatedSubvolume[]>>;
}

/** The first directory prefetched, whose listing started before its mount was known. */
interface EarlyRead {
  readonly directory: string;
  readonly reads: ListingReads;
  /** The mount it turned out to be on (undefined: none, or not btrfs). */
  readonly mountPoint: Promise<string | undefined>;
}

export class Inventory {
  private mounts: Promise<MountEntry[]> | undefined;
  private readonly listings = new Map<string, Promise<FilesystemListing>>();

  constructor(
    readonly host: Host = localHost,
    /** How long a read-back waits for other writers (see startWriting); tests fix it. */
    private readonly readBackPatienceMs?: number,
  ) {}

  private mountEntries(): Promise<MountEntry[]> {
    this.mounts ??= this.host.mountinfo().then(parseMountinfo);
    // A failed read is not kept: the next caller tries again.
    this.mounts.catch(() => (this.mounts = undefined));
    return this.mounts;
  }

  private early: EarlyRead | undefined;

  /** The list commands for the filesystem at `path`: `list -r` only where the host has no readonlyAmong. */
  private startReads(path: string): ListingReads {
    return {
      all: this.host.run(listSubvolumes(path)),
      readonlyIds: this.host.readonlyAmong ? undefined : this.host.run(listReadonlySubvolumes(path)),
    };
  }

  /**
   * Start reading what `directory` needs now: the mount table and the listing of its filesystem.
   * Over SSH each is a round trip; started together they cost one instead of three in a row. Only
   * the first directory's listing starts before its mount is known (through `directory` itself,
   * which gives the same whole-filesystem listing); every later one waits for its mount, so the
   * fifty subvolumes of one filesystem cost one listing, not fifty.
   */
  prefetch(directory: string): void {
    this.mountEntries().catch(() => undefined);
    if (this.early?.directory === directory) return;
    if (!this.early && this.listings.size === 0) {
      const reads = this.startReads(directory);
      Promise.all([reads.all, reads.readonlyIds]).catch(() => undefined);
      const mountPoint = this.mountOf(directory).then(
        ({ mount }) => mount.mountPoint,
        () => undefined,
      );
      this.early = { directory, reads, mountPoint };
      return;
    }
    void this.mountOf(directory)
      .then(({ mount, resolvedPath }) => this.listing(mount, resolvedPath, directory))
      .catch(() => undefined);
  }

  /** mountOf's answers (a run asks about the same few directories many times). */
  private readonly resolved = new Map<string, Promise<{ mount: MountEntry; resolvedPath: string }>>();

  /** The btrfs mount holding `path` (resolved through symlinks), once per path and inventory. */
  mountOf(path: string): Promise<{ mount: MountEntry; resolvedPath: string }> {
    let found = this.resolved.get(path);
    if (!found) {
      found = this.resolveMount(path);
      this.resolved.set(path, found);
      // A path that is not there yet (a snapshot_dir made by this run) is looked at again.
      found.catch(() => this.resolved.delete(path));
    }
    return found;
  }

  private async resolveMount(path: string): Promise<{ mount: MountEntry; resolvedPath: string }> {
    // Both at once: over SSH each is a round trip.
    const [resolvedPath, entries] = await Promise.all([this.host.realpath(path), this.mountEntries()]);
    const mount = findMount(entries, resolvedPath);
    if (!mount || mount.fsType !== 'btrfs') {
      throw new NotBtrfsError(
        `${path} is not on a btrfs filesystem${mount ? ` (it is on ${mount.fsType} mounted at ${mount.mountPoint})` : ''}`,
      );
    }
    return { mount, resolvedPath };
  }

  /**
   * The subvolumes of the filesystem at `mount`, listed through `path` (any path on it gives the
   * whole filesystem; listing through the path asked about keeps a target filter that confines
   * requests to its roots satisfied). The early read of prefetch serves it if it is of this mount.
   */
  private async listing(mount: MountEntry, path: string, asked = path): Promise<FilesystemListing> {
    const early = this.early;
    const earlyHere =
      early && (early.directory === asked || (await early.mountPoint) === mount.mountPoint)
        ? early
        : undefined;
    let listing = this.listings.get(mount.mountPoint);
    if (!listing) {
      // An early read serves one listing: a listing read again (after a failure) reads afresh.
      if (earlyHere && this.early === earlyHere) this.early = undefined;
      listing = this.readListing(mount, earlyHere?.directory ?? path, earlyHere?.reads);
      this.listings.set(mount.mountPoint, listing);
      // A failed read must not be cached: the next caller tries again.
      listing.catch(() => this.listings.delete(mount.mountPoint));
    }
    return listing;
  }

  private async readListing(
    mount: MountEntry,
    path: string,
    early?: ListingReads,
  ): Promise<FilesystemListing> {
    const { listed, readonlyIds } = await this.readFilesystem(mount, path, early);
    const isReadonly = await this.readonlyFlags(mount, path, listed, readonlyIds);
    const subvolumes = listed.map((each) => subvolumeOf(each, isReadonly(each)));
    return { mount, subvolumes, byPath: new Map(subvolumes.map((each) => [each.path, each])) };
  }

  /** One `btrfs subvolume list` (and `list -r` where needed) of the filesystem at `mount`, mapped into it. */
  private async readFilesystem(
    mount: MountEntry,
    path: string,
    early?: ListingReads,
  ): Promise<ListedFilesystem> {
    let reads = early ?? this.startReads(path);
    // An early read that failed (the directory was created since) is read again.
    if (
      early &&
      (await Promise.all([early.all, early.readonlyIds])).some((result) => result && result.exitCode !== 0)
    )
      reads = this.startReads(path);
    const all = checked(await reads.all);
    const mountRoot = mount.root.replace(/^\/+/, '');
    // As listed, but with `path` mapped to where it is on this host.
    const listed: ListedSubvolume[] = [];
    for (const each of parseSubvolumeList(all.stdout)) {
      // Map the top-level-relative path into this mount; subvolumes outside it are not reachable here.
      let relative: string;
      if (mountRoot === '') relative = each.path;
      else if (each.path.startsWith(`${mountRoot}/`)) relative = each.path.slice(mountRoot.length + 1);
      else continue;
      listed.push({ ...each, path: under(mount.mountPoint, relative) });
    }
    const readonlyIds = reads.readonlyIds && parseReadonlyIds(checked(await reads.readonlyIds).stdout);
    return { mount, listed, ...(readonlyIds ? { readonlyIds } : {}) };
  }

  /**
   * Read-only flags from the kernel (readonlyAmong) where that answer is sound: a read-write mount
   * (on a read-only one every access says EROFS) whose subvolume paths no other mount covers.
   * Otherwise, and when the kernel cannot tell, from `btrfs subvolume list -r`.
   */
  private async readonlyFlags(
    mount: MountEntry,
    path: string,
    subvolumes: readonly ListedSubvolume[],
    listedReadonly: ReadonlySet<number> | undefined,
  ): Promise<(subvolume: ListedSubvolume) => boolean> {
    if (
      !listedReadonly &&
      this.host.readonlyAmong &&
      !mount.readonly &&
      subvolumes.length <= readonlyByKernelLimit
    ) {
      const paths = subvolumes.map((subvolume) => subvolume.path);
      const readonly = unshadowed(await this.mountEntries(), mount, paths)
        ? this.host.readonlyAmong(paths)
        : undefined;
      if (readonly) return (subvolume) => readonly.has(subvolume.path);
    }
    const ids =
      listedReadonly ?? parseReadonlyIds(checked(await this.host.run(listReadonlySubvolumes(path))).stdout);
    return (subvolume) => ids.has(subvolume.id);
  }

  /** Subvolumes directly inside `directory`. */
  async subvolumesIn(directory: string): Promise<Subvolume[]> {
    const { mount, resolvedPath } = await this.mountOf(directory);
    const listing = await this.listing(mount, resolvedPath, directory);
    listing.byDirectory ??= groupByDirectory(listing.subvolumes);
    return (listing.byDirectory.get(resolvedPath) ?? []).map((subvolume) => ({
      ...subvolume,
      path: join(directory, subvolume.name),
    }));
  }

  /**
   * The subvolumes directly inside `directory` named `<basename>.<timestamp>[_N]`, with their
   * dates (datedSubvolumes of subvolumesIn): every name of a directory is parsed once per run,
   * however many subvolumes share it (fifty subvolumes with a thousand snapshots each in one
   * snapshot_dir would otherwise parse fifty thousand names fifty times).
   */
  async datedIn(directory: string, basename: string): Promise<DatedSubvolume[]> {
    const { mount, resolvedPath } = await this.mountOf(directory);
    const listing = await this.listing(mount, resolvedPath, directory);
    listing.dated ??= new Map();
    const key = `${resolvedPath}\u0000${directory}`;
    let byBasename = listing.dated.get(key);
    if (!byBasename) {
      listing.byDirectory ??= groupByDirectory(listing.subvolumes);
      byBasename = new Map();
      // join(directory, name) for names that are one plain component (every snapshot name is).
      const prefix = join(directory, 'x').slice(0, -1);
      for (const subvolume of listing.byDirectory.get(resolvedPath) ?? []) {
        const parsed = parseSnapshotName(subvolume.name);
        if (!parsed) continue;
        const dated = { ...subvolume, path: prefix + subvolume.name, date: parsed.date };
        const group = byBasename.get(parsed.basename);
        if (group) group.push(dated);
        else byBasename.set(parsed.basename, [dated]);
      }
      listing.dated.set(key, byBasename);
    }
    return [...(byBasename.get(basename) ?? [])];
  }

  /** Every subvolume of the filesystem holding `directory` that is reachable on this host. */
  async filesystemOf(directory: string): Promise<readonly Subvolume[]> {
    const { mount, resolvedPath } = await this.mountOf(directory);
    return (await this.listing(mount, resolvedPath, directory)).subvolumes;
  }

  /** The subvolume at exactly `path`, or an error saying what is there instead. */
  async subvolumeAt(path: string): Promise<Subvolume> {
    const { mount, resolvedPath } = await this.mountOf(path);
    const listing = await this.listing(mount, resolvedPath, path);
    // The mounted subvolume itself is not in the list output when it is the top level.
    const found = listing.byPath.get(resolvedPath);
    if (found) return { ...found, path };
    if (resolvedPath === mount.mountPoint)
      throw new NotBtrfsError(
        `${path} is the top level of a btrfs filesystem; snapkeep snapshots subvolumes, create one (btrfs subvolume create) and move the data into it`,
      );
    throw new NotBtrfsError(`${path} is a directory on btrfs but not a subvolume`);
  }

  /** Per mount point: the read-back listing running now, and the one queued to start after it. */
  private readonly readBacks = new Map<string, ReadBackSlot>();

  /** Per mount point: how many steps write into it now (startWriting). */
  private readonly writers = new Map<string, number>();

  /**
   * The subvolume `name` in `directory` as a listing started after this call shows it (undefined:
   * there is none): how a step reads back what it just made, a snapshot or a received copy.
   * Callers that ask while a listing of that filesystem runs, or while other steps still write
   * into it (startWriting), share the next one, so fifty subvolumes made at once cost a few
   * listings instead of a `btrfs subvolume show` each (and a show is no cheaper than a listing: it
   * walks every subvolume of the filesystem to print the snapshots of the one asked about).
   * `finishing`: the caller's own write, ended once its read-back is queued (so it is in the
   * listing that write's end may start). Throws when the filesystem cannot be listed.
   */
  async readBack(directory: string, name: string, finishing?: WriteLease): Promise<Subvolume | undefined> {
    let next: Promise<ListedFilesystem>;
    let resolvedPath: string;
    let mount: MountEntry;
    try {
      ({ mount, resolvedPath } = await this.mountOf(directory));
      next = this.nextListing(mount, resolvedPath);
    } finally {
      finishing?.end();
    }
    const { listed, readonlyIds } = await next;
    const wanted = posix.join(resolvedPath, name);
    const found = listed.find((each) => each.path === wanted);
    if (!found) return undefined;
    const isReadonly = await this.readonlyFlags(mount, resolvedPath, [found], readonlyIds);
    return { ...subvolumeOf(found, isReadonly(found)), path: join(directory, name) };
  }

  /**
   * A step that writes into `directory` (a receive) from now until the lease ends: a read-back of
   * that filesystem asked for meanwhile waits for it (at most as long as the last listing of that
   * filesystem took, so a long transfer does not hold up the copies received beside it), and the
   * copies received side by side are read back by one listing instead of one each. Only the
   * sharing changes, never what a read-back sees: its listing still starts after it was asked for.
   */
  async startWriting(directory: string): Promise<WriteLease> {
    const mountPoint = await this.mountOf(directory).then(
      ({ mount }) => mount.mountPoint,
      () => undefined, // not there yet or not btrfs: the step itself will say so
    );
    if (mountPoint === undefined) return { end: () => undefined };
    this.writers.set(mountPoint, (this.writers.get(mountPoint) ?? 0) + 1);
    let ended = false;
    return {
      end: () => {
        if (ended) return;
        ended = true;
        const left = this.writers.get(mountPoint)! - 1;
        if (left > 0) this.writers.set(mountPoint, left);
        else {
          this.writers.delete(mountPoint);
          this.startQueued(mountPoint, 'quiet');
        }
      },
    };
  }

  /** A listing of `mount` that starts after this call (shared with everyone who asks before it starts). */
  private nextListing(mount: MountEntry, path: string): Promise<ListedFilesystem> {
    let slot = this.readBacks.get(mount.mountPoint);
    if (!slot) {
      slot = {};
      this.readBacks.set(mount.mountPoint, slot);
    }
    if (slot.queued) return slot.queued.listing;
    if (!slot.running && !this.writers.has(mount.mountPoint)) return this.startListing(slot, mount, path);
    // The running one may have listed before the caller's subvolume existed: the next one, after
    // it and after the steps writing there now.
    const queuedSlot = slot;
    let start = (): void => undefined;
    const listing = new Promise<ListedFilesystem>((resolve, reject) => {
      start = () => {
        this.startListing(queuedSlot, mount, path).then(resolve, reject);
      };
    });
    queuedSlot.queued = { listing, start };
    if (!slot.running) this.waitForWriters(queuedSlot);
    return listing;
  }

  private startListing(slot: ReadBackSlot, mount: MountEntry, path: string): Promise<ListedFilesystem> {
    slot.queued = undefined;
    clearTimeout(slot.patience);
    const startedAt = performance.now();
    const read = this.readFilesystem(mount, path);
    slot.running = read;
    const done = (): void => {
      slot.lastListingMs = performance.now() - startedAt;
      if (slot.running === read) slot.running = undefined;
      this.startQueued(mount.mountPoint, 'listed');
    };
    read.then(done, done);
    return read;
  }

  /** Writers still busy when a queued listing could start: waited for, but not for longer than a listing takes. */
  private waitForWriters(slot: ReadBackSlot): void {
    clearTimeout(slot.patience);
    slot.patience = setTimeout(
      () => {
        slot.patience = undefined;
        slot.queued?.start();
      },
      this.readBackPatienceMs ?? slot.lastListingMs ?? unmeasuredPatienceMs,
    );
  }

  /** The queued read-back listing of `mountPoint`, started once nothing lists or writes there. */
  private startQueued(mountPoint: string, why: 'quiet' | 'listed'): void {
    const slot = this.readBacks.get(mountPoint);
    if (!slot?.queued || slot.running) return;
    if (!this.writers.has(mountPoint)) slot.queued.start();
    else if (why === 'listed') this.waitForWriters(slot);
  }
}

/** A write counted by Inventory.startWriting; end() is idempotent. */
export interface WriteLease {
  end(): void;
}

/** A read-back's wait for writers before any listing of their filesystem was timed: a small one's. */
const unmeasuredPatienceMs = 20;

/** One filesystem's read-back listings (Inventory.nextListing). */
interface ReadBackSlot {
  running?: Promise<ListedFilesystem>;
  queued?: { readonly listing: Promise<ListedFilesystem>; readonly start: () => void };
  /** How long the last listing took (the most a queued one waits for writers). */
  lastListingMs?: number;
  /** The timer that starts the queued listing although writers are still busy. */
  patience?: ReturnType<typeof setTimeout>;
}

/**
 * `directory/name` for a directory that is an absolute normalized path (a mount point, a
 * resolved path) and a relative path as btrfs prints it; posix.join (which normalizes, and costs
 * that for every one of ten thousand subvolumes) only for anything else.
 */
function under(directory: string, relative: string): string {
  if (
    relative === '' ||
    relative.startsWith('/') ||
    relative.endsWith('/') ||
    /(^|\/)\.\.?(\/|$)|\/\//.test(relative)
  )
    return posix.join(directory, relative);
  return directory === '/' ? `/${relative}` : `${directory}/${relative}`;
}

function subvolumeOf(listed: ListedSubvolume, readonly: boolean): Subvolume {
  return {
    id: listed.id,
    uuid: listed.uuid,
    parentUuid: listed.parentUuid,
    receivedUuid: listed.receivedUuid,
    readonly,
    generation: listed.generation,
    creationGeneration: listed.creationGeneration,
    path: listed.path,
    name: basename(listed.path),
  };
}

function groupByDirectory(subvolumes: readonly Subvolume[]): Map<string, Subvolume[]> {
  const groups = new Map<string, Subvolume[]>();
  for (const subvolume of subvolumes) {
    const directory = dirname(subvolume.path);
    const group = groups.get(directory);
    if (group) group.push(subvolume);
    else groups.set(directory, [subvolume]);
  }
  return groups;
}

/**
 * Whether every one of `paths` (on `mount`) is held by `mount` itself, as findMount would say, and
 * not by another mount over it or over a directory above it: the mount table is looked at once,
 * then each path's ancestors below the mount point (a few set lookups, however many paths).
 */
function unshadowed(entries: readonly MountEntry[], mount: MountEntry, paths: readonly string[]): boolean {
  const top = findMount(entries, mount.mountPoint);
  if (top?.mountPoint !== mount.mountPoint || top.majorMinor !== mount.majorMinor) return paths.length === 0;
  const prefix = mount.mountPoint === '/' ? '/' : `${mount.mountPoint}/`;
  const nested = new Set(
    entries
      .filter((entry) => entry.mountPoint !== mount.mountPoint && entry.mountPoint.startsWith(prefix))
      .map((entry) => entry.mountPoint),
  );
  if (nested.size === 0) return true;
  return paths.every((path) => {
    for (let at = path; at.length > mount.mountPoint.length; at = posix.dirname(at))
      if (nested.has(at)) return false;
    return true;
  });
}

function checked(result: CommandResult): CommandResult {
  if (result.exitCode !== 0) {
    throw new Error(`${result.spec.file} ${result.spec.args.join(' ')} failed: ${result.stderr.trim()}`);
  }
  return result;
}

/**
 * What an interrupted receive leaves: a writable subvolume (btrfs receive makes its subvolume
 * read-only last, after setting the received UUID). A read-only one without a received UUID was
 * not made by a receive — an original snapshot — and is never garbage.
 */
export const isInterruptedReceive = (subvolume: Pick<Subvolume, 'readonly'>): boolean => !subvolume.readonly;

/** Subvolumes whose names are `<basename>.<timestamp>[_N]`, with their dates. */
export function datedSubvolumes(
  subvolumes: readonly Subvolume[],
  snapshotBasename: string,
): DatedSubvolume[] {
  const dated: DatedSubvolume[] = [];
  for (const subvolume of subvolumes) {
    const parsed = parseSnapshotName(subvolume.name);
    if (parsed && parsed.basename === snapshotBasename) dated.push({ ...subvolume, date: parsed.date });
  }
  return dated;
}
