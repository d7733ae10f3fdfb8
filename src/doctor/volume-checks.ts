// `doctor volume`: where each target's copies land — mounted, btrfs, the directory there, space
// left, leftovers of interrupted receives. The same decisions for a local target and an ssh one
// (observed there through the target filter: mountinfo, readlink, btrfs filesystem usage).
import { realpath, readFile, statfs } from 'node:fs/promises';
import { findMount, parseMountinfo, type MountEntry } from '../btrfs/btrfs-parse.js';
import { localHost } from '../btrfs/inventory.js';
import { runCommand } from '../exec/command.js';
import { lastLines, scope, type CheckResult } from './check.js';
import { classifyFilterAnswer, listTargetSubvolumes, type SshObservations } from './ssh-checks.js';

export interface SpaceUsage {
  readonly usedBytes: number;
  readonly freeBytes: number;
}

export interface VolumeObservations {
  readonly target: string;
  /** Host name of an ssh target; undefined for this machine. */
  readonly host?: string;
  readonly path: string;
  /** undefined: could not be asked. */
  readonly exists?: boolean;
  readonly resolvedPath?: string;
  /** The filter's --root that does not exist (it then refuses everything). */
  readonly rootMissing?: string;
  readonly mountinfo?: string;
  readonly usage?: SpaceUsage | { readonly error: string };
  readonly subvolumes?: SshObservations['subvolumes'];
  /** Where the backup volume should be mounted (flag, or the AWS outputs' mount_point). */
  readonly expectedMountPoint?: string;
  /** An AWS target: fixes mention the EBS volume. */
  readonly aws?: boolean;
  /** Local targets: the subvolumes sent here whose data is on this very filesystem. */
  readonly sameFilesystemAs?: readonly string[];
}

/** Usage over this fails, over the warning level warns. */
export const usageFailPercent = 90;
export const usageWarnPercent = 80;

/**
 * `btrfs filesystem usage -b`: used and free (estimated) bytes. Used / (used + free) is what df
 * shows as Use% (device size would count unallocated metadata duplication as used).
 */
export function parseBtrfsUsage(output: string): SpaceUsage | undefined {
  const used = /^\s*Used:\s+(\d+)/m.exec(output);
  const free = /Free \(estimated\):\s+(\d+)/.exec(output);
  if (!used || !free) return undefined;
  return { usedBytes: Number(used[1]), freeBytes: Number(free[1]) };
}

export function usagePercent(usage: SpaceUsage): number {
  const total = usage.usedBytes + usage.freeBytes;
  return total === 0 ? 100 : (usage.usedBytes / total) * 100;
}

const gib = (bytes: number): string => `${(bytes / 1024 ** 3).toFixed(bytes < 10 * 1024 ** 3 ? 2 : 1)} GiB`;

/** From the ssh observations: the same shape as a local target's. */
export function volumeObservationsFromSsh(
  base: Pick<VolumeObservations, 'target' | 'host' | 'path' | 'expectedMountPoint' | 'aws'>,
  observed: SshObservations,
): VolumeObservations {
  const answer = observed.resolve ? classifyFilterAnswer(observed.resolve) : undefined;
  if (answer?.kind === 'root-missing') return { ...base, rootMissing: answer.root };
  if (answer?.kind !== 'answered' || !observed.resolve) return base;
  const exists = observed.resolve.exitCode === 0;
  const usageText = observed.usage;
  return {
    ...base,
    exists,
    resolvedPath: exists ? observed.resolve.stdout.trim() : undefined,
    mountinfo: observed.mountinfo?.exitCode === 0 ? observed.mountinfo.stdout : undefined,
    usage:
      usageText === undefined
        ? undefined
        : usageText.exitCode === 0
          ? (parseBtrfsUsage(usageText.stdout) ?? { error: 'unexpected output of btrfs filesystem usage' })
          : { error: lastLines(usageText.stderr, 1) },
    subvolumes: observed.subvolumes,
  };
}

function mountFixes(observed: VolumeObservations, mountPoint: string | undefined): string[] {
  const on = observed.host ? `on ${observed.host}: ` : '';
  const where = mountPoint ?? '<mount point>';
  return [
    `${on}mount the backup volume: mount /dev/disk/by-uuid/<UUID> ${where}  (lsblk -f or blkid shows the volume and its UUID)`,
    `${on}make it permanent with a line in /etc/fstab: UUID=<UUID> ${where} btrfs defaults,nofail 0 0  (nofail: the host still boots without it), then mount -a`,
    ...(observed.aws ? ['snapkeep doctor aws  (is the EBS volume attached to the instance?)'] : []),
  ];
}

export function volumeChecks(observed: VolumeObservations): CheckResult[] {
  const checks = scope('volume', observed.target);
  const on = observed.host ? `on ${observed.host}` : 'here';
  const onPrefix = observed.host ? `on ${observed.host}: ` : '';
  const results: CheckResult[] = [];
  const skipRest = (reason: string): void => {
    for (const [check, title] of [
      ['btrfs', 'on btrfs'],
      ['directory', 'target directory'],
      ['usage', 'space'],
      ['garbage', 'interrupted receives'],
    ] as const)
      results.push(checks.skip(check, title, reason));
  };

  if (observed.rootMissing) {
    results.push(
      checks.fail(
        'mounted',
        'volume mounted',
        `${observed.rootMissing} does not exist ${on}, so the target filter refuses every request`,
        `the backup volume is not mounted (the filter's root lives on it)${observed.aws ? ': after a reboot without a nofail fstab entry, or a detached EBS volume' : ''}`,
        mountFixes(observed, observed.expectedMountPoint),
      ),
    );
    skipRest('the volume is not mounted');
    return results;
  }
  if (observed.exists === undefined || observed.mountinfo === undefined) {
    results.push(checks.skip('mounted', 'volume mounted', `cannot ask ${on}: see the ssh checks`));
    skipRest(`cannot ask ${on}`);
    return results;
  }

  const entries = parseMountinfo(observed.mountinfo);
  const path = observed.resolvedPath ?? observed.path;
  const mount = findMount(entries, path);
  const expected = observed.expectedMountPoint;
  const expectedMissing = expected !== undefined && !entries.some((entry) => entry.mountPoint === expected);
  const onRoot = mount?.mountPoint === '/';
  const describe = (entry: MountEntry): string =>
    `${entry.fsType} ${entry.source} mounted at ${entry.mountPoint}`;

  if (expectedMissing) {
    results.push(
      checks.fail(
        'mounted',
        'volume mounted',
        `nothing is mounted at ${expected} ${on}${mount ? ` (${path} is on ${describe(mount)})` : ''}`,
        `the backup volume is not mounted${observed.aws ? ' (after a reboot without a nofail fstab entry, or the EBS volume is detached)' : ''}`,
        mountFixes(observed, expected),
      ),
    );
  } else if (!mount) {
    results.push(checks.skip('mounted', 'volume mounted', `no mount holds ${path}`));
  } else if (onRoot && expected === undefined) {
    results.push(
      checks.warn(
        'mounted',
        'volume mounted',
        `${path} is on the root filesystem (${describe(mount)})`,
        'copies on the system disk are lost with it; if a separate backup volume should hold them, it is not mounted',
        [
          ...mountFixes(observed, undefined),
          'or give its mount point with --mount-point so doctor can check it',
        ],
      ),
    );
  } else {
    results.push(checks.ok('mounted', 'volume mounted', describe(mount)));
  }

  if (!mount) {
    results.push(checks.skip('btrfs', 'on btrfs', `no mount holds ${path}`));
  } else if (mount.fsType === 'btrfs') {
    results.push(checks.ok('btrfs', 'on btrfs', `${mount.source} at ${mount.mountPoint}`));
  } else if (onRoot || expectedMissing) {
    results.push(
      checks.fail(
        'btrfs',
        'on btrfs',
        `${path} is on ${describe(mount)}, not btrfs`,
        'the backup volume is not mounted, so the path falls through to the root filesystem',
        mountFixes(observed, expected),
      ),
    );
  } else {
    results.push(
      checks.fail(
        'btrfs',
        'on btrfs',
        `${path} is on ${describe(mount)}, not btrfs`,
        `btrfs receive needs a btrfs filesystem; the volume at ${mount.mountPoint} was formatted as ${mount.fsType}`,
        [
          `if it holds nothing you need, ${onPrefix}re-format it as btrfs — this ERASES it: umount ${mount.mountPoint} && mkfs.btrfs -f -L snapkeep ${mount.source} && mount ${mount.source} ${mount.mountPoint}, then mkdir -p ${observed.path}`,
          `and change its /etc/fstab line's type to btrfs${observed.aws ? ' (or snapkeep infra apply, which formats a new volume as btrfs)' : ''}`,
          'or point the target at a directory on a btrfs filesystem',
        ],
      ),
    );
  }

  if (observed.exists) {
    results.push(
      checks.ok(
        'directory',
        'target directory',
        observed.resolvedPath && observed.resolvedPath !== observed.path
          ? `${observed.path} (→ ${observed.resolvedPath})`
          : observed.path,
      ),
    );
  } else {
    results.push(
      checks.fail(
        'directory',
        'target directory',
        `${observed.path} does not exist ${on}`,
        'snapkeep does not create target directories (a missing one usually means the wrong volume, or none, is mounted)',
        [
          `${onPrefix}mkdir -p ${observed.path}${observed.host ? "  (as root; under the target filter's root)" : ''}`,
        ],
      ),
    );
  }

  const usage = observed.usage;
  if (!usage) {
    results.push(
      checks.skip('usage', 'space', observed.exists ? 'not measured' : 'the directory does not exist'),
    );
  } else if ('error' in usage) {
    results.push(checks.skip('usage', 'space', `cannot measure: ${usage.error}`));
  } else {
    const percent = usagePercent(usage);
    const detail = `${percent.toFixed(0)} % used, ${gib(usage.freeBytes)} free of ${gib(usage.usedBytes + usage.freeBytes)}`;
    const fix = [
      'snapkeep prune --dry-run, then snapkeep prune  (deletes the copies retention no longer keeps)',
      'keep fewer copies: a shorter retention.preserve for this target in the config (e.g. "7d 4w 6m")',
      observed.aws
        ? `grow the EBS volume (its size in the infra variables, then snapkeep infra apply), then ${onPrefix}btrfs filesystem resize max ${mount?.mountPoint ?? observed.path}`
        : `or grow the volume, then ${onPrefix}btrfs filesystem resize max ${mount?.mountPoint ?? observed.path}`,
    ];
    const cause =
      'the copies grew beyond the volume: the next receive may fail with "No space left on device"';
    if (percent > usageFailPercent) results.push(checks.fail('usage', 'space', detail, cause, fix));
    else if (percent > usageWarnPercent)
      results.push(checks.warn('usage', 'space', detail, `over ${usageWarnPercent} %: ${cause}`, fix));
    else results.push(checks.ok('usage', 'space', detail));
  }

  if (observed.sameFilesystemAs && observed.sameFilesystemAs.length > 0 && mount) {
    results.push(
      checks.warn(
        'separate-disk',
        'separate disk',
        `${observed.sameFilesystemAs.join(', ')} and this target are on the same filesystem (${mount.source})`,
        'copies on the disk that holds the data are snapshots, not backups: a failed disk or a mistaken mkfs takes both',
        ['send to a target on another disk (a USB disk, or an ssh://host/path target)'],
      ),
    );
  }

  const subvolumes = observed.subvolumes;
  if (!subvolumes) {
    results.push(
      checks.skip(
        'garbage',
        'interrupted receives',
        observed.exists ? 'not listed' : 'the directory does not exist',
      ),
    );
  } else if (!subvolumes.ok) {
    results.push(checks.skip('garbage', 'interrupted receives', `cannot list: ${subvolumes.message}`));
  } else if (subvolumes.garbage.length > 0) {
    results.push(
      checks.warn(
        'garbage',
        'interrupted receives',
        `${subvolumes.garbage.length} partial cop${subvolumes.garbage.length === 1 ? 'y' : 'ies'}: ${subvolumes.garbage.slice(0, 5).join(', ')}`,
        'a transfer was interrupted (connection lost, disk full, killed): these are not read-only or have no received UUID, so they are not copies',
        ['snapkeep clean --dry-run, then snapkeep clean  (the next run also deletes them before sending)'],
      ),
    );
  } else {
    results.push(
      checks.ok(
        'garbage',
        'interrupted receives',
        `none (${subvolumes.copies} complete cop${subvolumes.copies === 1 ? 'y' : 'ies'})`,
      ),
    );
  }
  return results;
}

/** A local target: the same observations, from this machine. */
export async function observeLocalTarget(
  target: string,
  path: string,
  expectedMountPoint: string | undefined,
  sourcePaths: readonly string[] = [],
): Promise<VolumeObservations> {
  const resolvedPath = await realpath(path).catch(() => undefined);
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  const entries = parseMountinfo(mountinfo);
  const targetMount = findMount(entries, resolvedPath ?? path);
  const sameFilesystemAs: string[] = [];
  for (const source of sourcePaths) {
    const sourceMount = findMount(entries, await realpath(source).catch(() => source));
    if (
      targetMount &&
      sourceMount?.source === targetMount.source &&
      sourceMount.fsType === targetMount.fsType
    )
      sameFilesystemAs.push(source);
  }
  const base = {
    target,
    path,
    mountinfo,
    expectedMountPoint,
    exists: resolvedPath !== undefined,
    resolvedPath,
    sameFilesystemAs,
  };
  if (!resolvedPath) return base;
  let usage: VolumeObservations['usage'];
  const result = await runCommand({
    file: 'btrfs',
    args: ['filesystem', 'usage', '-b', resolvedPath],
    timeoutMs: 30_000,
  }).catch(() => undefined);
  const parsed = result?.exitCode === 0 ? parseBtrfsUsage(result.stdout) : undefined;
  if (parsed) usage = parsed;
  else {
    // Not root, or not btrfs: what statfs says (df's numbers).
    const info = await statfs(resolvedPath).catch(() => undefined);
    usage = info
      ? { usedBytes: (info.blocks - info.bfree) * info.bsize, freeBytes: info.bavail * info.bsize }
      : { error: lastLines(result?.stderr ?? 'btrfs filesystem usage failed', 1) };
  }
  const subvolumes = await listTargetSubvolumes(localHost, path);
  return { ...base, usage, subvolumes };
}
