// What exists on btrfs: subvolumes with uuids, relations and flags. Each filesystem is listed once
// per run (two `btrfs subvolume list` calls) however many snapshots it holds; after a run's
// changes, observe.ts derives the new state from the steps instead of listing again. A Host is
// this machine or an SSH host (remote/ssh-host.ts).
import { access, mkdir, readFile, realpath } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import { runCommand, type CommandResult, type CommandSpec } from '../exec/command.js';
import type { StreamCompression } from '../remote/remote-request.js';
import { listReadonlySubvolumes, listSubvolumes } from './btrfs-commands.js';
import {
  findMount,
  parseMountinfo,
  parseReadonlyIds,
  parseSubvolumeList,
  type MountEntry,
  type ShownSubvolume,
} from './btrfs-parse.js';
import { parseSnapshotName, type SnapshotDate } from './snapshot-name.js';

/** A subvolume as listed or shown, and where it is. */
export interface Subvolume extends ShownSubvolume {
  /** Absolute path on its host. */
  readonly path: string;
}

export interface DatedSubvolume extends Subvolume {
  readonly date: SnapshotDate;
}

/** Where commands run: this machine, or a host over SSH (remote/ssh-host.ts). */
export interface Host {
  readonly label: string;
  /**
   * The local process that runs `spec` there, once the host is ready. With `compression`, the
   * remote end compresses what `spec` writes or decompresses what it reads (remote hosts only).
   */
  prepare(spec: CommandSpec, compression?: StreamCompression): Promise<CommandSpec>;
  /** zstd on streams to and from this host (set per SSH host; never for this machine). */
  readonly compression: 'none' | 'zstd';
  run(spec: CommandSpec): Promise<CommandResult>;
  realpath(path: string): Promise<string>;
  exists(path: string): Promise<boolean>;
  /** mkdir -p */
  makeDirectory(path: string): Promise<void>;
  mountinfo(): Promise<string>;
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
};

export class NotBtrfsError extends Error {}

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
  private readonly early = new Map<string, Promise<[CommandResult, CommandResult]>>();

  /**
   * Start reading what `directory` needs now: the mount table and the listing of its filesystem
   * (through `directory` itself, which gives the same whole-filesystem listing). Over SSH each is
   * a round trip; started together they cost one instead of three in a row.
   */
  prefetch(directory: string): void {
    this.mountEntries().catch(() => undefined);
    if (!this.early.has(directory)) {
      const reads = Promise.all([
        this.host.run(listSubvolumes(directory)),
        this.host.run(listReadonlySubvolumes(directory)),
      ]);
      reads.catch(() => this.early.delete(directory));
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
    early?: Promise<[CommandResult, CommandResult]>,
  ): Promise<FilesystemListing> {
    const fresh = (): Promise<CommandResult[]> =>
      Promise.all([this.host.run(listSubvolumes(path)), this.host.run(listReadonlySubvolumes(path))]);
    let results: CommandResult[] = early ? await early : await fresh();
    // An early read that failed (the directory was created since) is read again.
    if (early && results.some((result) => result.exitCode !== 0)) results = await fresh();
    const [all, readonlyOnes] = results.map(checked) as [CommandResult, CommandResult];
    const readonlyIds = parseReadonlyIds(readonlyOnes.stdout);
    const mountRoot = mount.root.replace(/^\/+/, '');
    const subvolumes: Subvolume[] = [];
    for (const listed of parseSubvolumeList(all.stdout)) {
      // Map the top-level-relative path into this mount; subvolumes outside it are not reachable here.
      let relative: string;
      if (mountRoot === '') relative = listed.path;
      else if (listed.path.startsWith(`${mountRoot}/`)) relative = listed.path.slice(mountRoot.length + 1);
      else continue;
      const path = posix.join(mount.mountPoint, relative);
      subvolumes.push({
        id: listed.id,
        uuid: listed.uuid,
        parentUuid: listed.parentUuid,
        receivedUuid: listed.receivedUuid,
        readonly: readonlyIds.has(listed.id),
        generation: listed.generation,
        creationGeneration: listed.creationGeneration,
        path,
        name: basename(path),
      });
    }
    return { mount, subvolumes };
  }

  /** Subvolumes directly inside `directory`. */
  async subvolumesIn(directory: string): Promise<Subvolume[]> {
    const { mount, resolvedPath } = await this.mountOf(directory);
    const listing = await this.listing(mount, resolvedPath, directory);
    return listing.subvolumes
      .filter((subvolume) => dirname(subvolume.path) === resolvedPath)
      .map((subvolume) => ({ ...subvolume, path: join(directory, subvolume.name) }));
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
