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

interface FilesystemListing {
  readonly mount: MountEntry;
  readonly subvolumes: readonly Subvolume[];
}

export class Inventory {
  private mounts: Promise<MountEntry[]> | undefined;
  private readonly listings = new Map<string, Promise<FilesystemListing>>();

  constructor(readonly host: Host = localHost) {}

  private mountEntries(): Promise<MountEntry[]> {
    this.mounts ??= this.host.mountinfo().then(parseMountinfo);
    // A failed read is not kept: the next caller tries again.
    this.mounts.catch(() => (this.mounts = undefined));
    return this.mounts;
  }

  /** Listings started before the mount of their path was known, by that path (see prefetch). */
  private readonly early = new Map<string, ListingReads>();

  /** The list commands for the filesystem at `path`: `list -r` only where the host has no readonlyAmong. */
  private startReads(path: string): ListingReads {
    return {
      all: this.host.run(listSubvolumes(path)),
      readonlyIds: this.host.readonlyAmong ? undefined : this.host.run(listReadonlySubvolumes(path)),
    };
  }

  /**
   * Start reading what `directory` needs now: the mount table and the listing of its filesystem
   * (through `directory` itself, which gives the same whole-filesystem listing). Over SSH each is
   * a round trip; started together they cost one instead of three in a row.
   */
  prefetch(directory: string): void {
    this.mountEntries().catch(() => undefined);
    if (!this.early.has(directory)) {
      const reads = this.startReads(directory);
      Promise.all([reads.all, reads.readonlyIds]).catch(() => this.early.delete(directory));
      this.early.set(directory, reads);
    }
  }

  /** The btrfs mount holding `path` (resolved through symlinks). */
  async mountOf(path: string): Promise<{ mount: MountEntry; resolvedPath: string }> {
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
   * requests to its roots satisfied).
   */
  private listing(mount: MountEntry, path: string, asked = path): Promise<FilesystemListing> {
    let listing = this.listings.get(mount.mountPoint);
    if (!listing) {
      listing = this.readListing(mount, path, this.early.get(asked));
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
    const reachable: ListedSubvolume[] = [];
    for (const listed of parseSubvolumeList(all.stdout)) {
      // Map the top-level-relative path into this mount; subvolumes outside it are not reachable here.
      let relative: string;
      if (mountRoot === '') relative = listed.path;
      else if (listed.path.startsWith(`${mountRoot}/`)) relative = listed.path.slice(mountRoot.length + 1);
      else continue;
      reachable.push({ ...listed, path: posix.join(mount.mountPoint, relative) });
    }
    const isReadonly = await this.readonlyFlags(mount, path, reachable, reads.readonlyIds);
    const subvolumes = reachable.map((listed): Subvolume => ({
      id: listed.id,
      uuid: listed.uuid,
      parentUuid: listed.parentUuid,
      receivedUuid: listed.receivedUuid,
      readonly: isReadonly(listed),
      generation: listed.generation,
      creationGeneration: listed.creationGeneration,
      path: listed.path,
      name: basename(listed.path),
    }));
    return { mount, subvolumes };
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
    listedReadonly: Promise<CommandResult> | undefined,
  ): Promise<(subvolume: ListedSubvolume) => boolean> {
    if (!listedReadonly && this.host.readonlyAmong && !mount.readonly) {
      const entries = await this.mountEntries();
      const paths = subvolumes.map((subvolume) => subvolume.path);
      const unshadowed = paths.every((each) => {
        const holder = findMount(entries, each);
        return holder?.mountPoint === mount.mountPoint && holder.majorMinor === mount.majorMinor;
      });
      const readonly = unshadowed ? this.host.readonlyAmong(paths) : undefined;
      if (readonly) return (subvolume) => readonly.has(subvolume.path);
    }
    const ids = parseReadonlyIds(
      checked(await (listedReadonly ?? this.host.run(listReadonlySubvolumes(path)))).stdout,
    );
    return (subvolume) => ids.has(subvolume.id);
  }

  /** Subvolumes directly inside `directory`. */
  async subvolumesIn(directory: string): Promise<Subvolume[]> {
    const { mount, resolvedPath } = await this.mountOf(directory);
    const listing = await this.listing(mount, resolvedPath, directory);
    return listing.subvolumes
      .filter((subvolume) => dirname(subvolume.path) === resolvedPath)
      .map((subvolume) => ({ ...subvolume, path: join(directory, subvolume.name) }));
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
    if (resolvedPath === mount.mountPoint) {
      // The mounted subvolume itself is not in the list output when it is the top level.
      const found = listing.subvolumes.find((subvolume) => subvolume.path === resolvedPath);
      if (found) return { ...found, path };
      throw new NotBtrfsError(
        `${path} is the top level of a btrfs filesystem; snapkeep snapshots subvolumes, create one (btrfs subvolume create) and move the data into it`,
      );
    }
    const found = listing.subvolumes.find((subvolume) => subvolume.path === resolvedPath);
    if (!found) throw new NotBtrfsError(`${path} is a directory on btrfs but not a subvolume`);
    return { ...found, path };
  }
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
