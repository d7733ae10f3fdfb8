// `doctor prereqs`: what this machine needs before snapkeep can work — the tools the config
// calls for (btrfs-progs, restic, ssh, zstd, pg_dump, tofu), a valid config, a writable state
// directory, root where btrfs runs here, the local subvolumes and snapshot directories on btrfs,
// and a sane clock. observePrereqs() looks; prereqChecks() decides.
import { access, constants, readFile, realpath, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { findMount, parseMountinfo } from '../btrfs/btrfs-parse.js';
import { Inventory, localHost } from '../btrfs/inventory.js';
import type { ResolvedConfig } from '../config/resolve.js';
import { runCommand } from '../exec/command.js';
import { lastLines, scope, type CheckResult } from './check.js';

export interface ToolProbe {
  readonly found: boolean;
  /** First line of its version output. */
  readonly version?: string;
  readonly error?: string;
}

export type Tool = 'btrfs' | 'flock' | 'setpriv' | 'restic' | 'ssh' | 'zstd' | 'pg_dump' | 'tofu';

export interface SubvolumeState {
  readonly name: string;
  readonly path: string;
  readonly snapshotDir: string;
  /** undefined: checked as a btrfs subvolume; else what is wrong. */
  readonly problem?: string;
  /** How the subvolume was checked: listed (root) or only by its mount (not root). */
  readonly how: 'listed' | 'mount';
  readonly fsSource?: string;
  /** The snapshot directory: exists, or its nearest existing ancestor. */
  readonly snapshotDirExists: boolean;
  readonly snapshotDirSource?: string;
  readonly snapshotDirFsType?: string;
}

export interface PrereqObservations {
  readonly config:
    | { readonly ok: true; readonly path: string; readonly resolved: ResolvedConfig }
    | { readonly ok: false; readonly message: string };
  /** Tools probed (those the config needs, and btrfs always). */
  readonly tools: Partial<Record<Tool, ToolProbe>>;
  readonly needs: Readonly<Record<Tool, boolean>>;
  readonly stateDir?: {
    readonly path: string;
    readonly writable: boolean;
    readonly checked: string;
    readonly error?: string;
  };
  readonly euid: number;
  readonly subvolumes: readonly SubvolumeState[];
  readonly clock: { readonly now: Date; readonly newestJournal?: string; readonly ntp?: 'yes' | 'no' };
}

const toolInfo: Record<Tool, { title: string; install: string[]; why: string }> = {
  btrfs: {
    title: 'btrfs-progs',
    install: ['apt install btrfs-progs  (Debian/Ubuntu; dnf install btrfs-progs on Fedora)'],
    why: 'snapshots, send and receive run the btrfs command',
  },
  flock: {
    title: 'flock (util-linux)',
    install: ['apt install util-linux'],
    why: 'every command that changes something takes the run lock with flock(2)',
  },
  setpriv: {
    title: 'setpriv (util-linux)',
    install: ['apt install util-linux'],
    why: 'children are bound to snapkeep with setpriv --pdeathsig; without it a btrfs receive can outlive a killed run',
  },
  restic: {
    title: 'restic',
    install: [
      'apt install restic  (Debian 12 ships 0.14, the oldest snapkeep supports)',
      'or set SNAPKEEP_RESTIC=/path/to/restic',
    ],
    why: 'backup sets are stored with restic',
  },
  ssh: {
    title: 'ssh client',
    install: ['apt install openssh-client'],
    why: 'ssh:// targets are reached with OpenSSH',
  },
  zstd: {
    title: 'zstd',
    install: ['apt install zstd  (here and on the host)'],
    why: 'ssh.compression is zstd: streams are compressed on both ends',
  },
  pg_dump: {
    title: 'pg_dump',
    install: ["apt install postgresql-client  (the server's major version or newer)"],
    why: 'a postgres source is dumped with pg_dump',
  },
  tofu: {
    title: 'OpenTofu / Terraform',
    install: ['install OpenTofu (https://opentofu.org/docs/intro/install/) or Terraform'],
    why: 'snapkeep infra runs tofu (or terraform) for the AWS target',
  },
};

export function prereqChecks(observed: PrereqObservations): CheckResult[] {
  const checks = scope('prereqs');
  const results: CheckResult[] = [];

  results.push(configCheck(observed.config));

  for (const tool of Object.keys(toolInfo) as Tool[]) {
    const probe = observed.tools[tool];
    const info = toolInfo[tool];
    if (!probe) {
      results.push(checks.skip(tool, info.title, 'not needed by this configuration'));
    } else if (probe.found) {
      results.push(checks.ok(tool, info.title, probe.version ?? 'found'));
    } else if (observed.needs[tool]) {
      // Without setpriv snapkeep still runs (its children unbound); without tofu only infra fails.
      const severity = tool === 'tofu' || tool === 'setpriv' ? checks.warn : checks.fail;
      results.push(
        severity(
          tool,
          info.title,
          probe.error ?? 'not found',
          `${info.why}, and it is not installed (or not on PATH)`,
          info.install,
        ),
      );
    } else {
      results.push(
        checks.skip(
          tool,
          info.title,
          `not installed; not needed by this configuration (${probe.error ?? 'not found'})`,
        ),
      );
    }
  }

  const state = observed.stateDir;
  if (!state) {
    results.push(checks.skip('state-dir', 'state directory', 'no configuration'));
  } else if (state.writable) {
    results.push(
      checks.ok(
        'state-dir',
        'state directory',
        state.checked === state.path
          ? `${state.path} is writable`
          : `${state.path} will be created (${state.checked} is writable)`,
      ),
    );
  } else {
    results.push(
      checks.fail(
        'state-dir',
        'state directory',
        `${state.path} is not writable (${state.error ?? `checked ${state.checked}`})`,
        'the journal, lock and transfer state are written there',
        [
          "run snapkeep as root (sudo snapkeep …, or root's timer)",
          `or: sudo install -d -o "$(id -un)" ${state.path}`,
          'or set state_dir in the config to a directory you can write',
        ],
      ),
    );
  }

  const localBtrfs =
    observed.config.ok && observed.config.resolved.subvolumes.some((subvolume) => !subvolume.ssh);
  if (observed.euid === 0) {
    results.push(checks.ok('root', 'privileges', 'running as root'));
  } else if (localBtrfs) {
    results.push(
      checks.fail(
        'root',
        'privileges',
        `running as uid ${observed.euid}`,
        'snapkeep runs btrfs here directly: snapshot, send, receive and delete need root',
        ["sudo snapkeep …  (or run it from root's systemd timer / crontab)"],
      ),
    );
  } else {
    results.push(checks.ok('root', 'privileges', `uid ${observed.euid}; nothing local needs root`));
  }

  for (const subvolume of observed.subvolumes) {
    const subject = scope('prereqs', subvolume.name);
    if (subvolume.problem) {
      results.push(
        subject.fail(
          'subvolume',
          `subvolume ${subvolume.name}`,
          subvolume.problem,
          'snapkeep snapshots btrfs subvolumes, and this path is not one',
          [
            `btrfs subvolume create ${subvolume.path}  (a new subvolume; move the data into it — e.g. rename the directory first, create the subvolume, copy with cp -a --reflink=always)`,
            'or fix the path of this subvolume in the config',
          ],
        ),
      );
    } else {
      results.push(
        subject.ok(
          'subvolume',
          `subvolume ${subvolume.name}`,
          `${subvolume.path} is a btrfs subvolume${subvolume.how === 'mount' ? ' (on btrfs; not listed: not root)' : ''}`,
        ),
      );
    }
    if (subvolume.snapshotDirFsType !== undefined && subvolume.snapshotDirFsType !== 'btrfs') {
      results.push(
        subject.fail(
          'snapshot-dir',
          `snapshot directory of ${subvolume.name}`,
          `${subvolume.snapshotDir} is on ${subvolume.snapshotDirFsType}`,
          'snapshots can only be made on the same btrfs filesystem as the subvolume',
          [
            `set snapshot_dir to a directory on the filesystem of ${subvolume.path} (default: ${subvolume.path}/.snapshots)`,
          ],
        ),
      );
    } else if (
      subvolume.fsSource &&
      subvolume.snapshotDirSource &&
      subvolume.fsSource !== subvolume.snapshotDirSource
    ) {
      results.push(
        subject.fail(
          'snapshot-dir',
          `snapshot directory of ${subvolume.name}`,
          `${subvolume.snapshotDir} is on ${subvolume.snapshotDirSource}, the subvolume on ${subvolume.fsSource}`,
          'snapshots can only be made on the same btrfs filesystem as the subvolume',
          [
            `set snapshot_dir to a directory on the filesystem of ${subvolume.path} (default: ${subvolume.path}/.snapshots)`,
          ],
        ),
      );
    } else {
      results.push(
        subject.ok(
          'snapshot-dir',
          `snapshot directory of ${subvolume.name}`,
          subvolume.snapshotDirExists
            ? subvolume.snapshotDir
            : `${subvolume.snapshotDir} (created by the first snapshot)`,
        ),
      );
    }
  }

  results.push(clockCheck(observed.clock));
  return results;
}

/** Pure: the configuration loaded, or why not. */
export function configCheck(config: PrereqObservations['config']): CheckResult {
  const checks = scope('prereqs');
  if (config.ok) {
    const { resolved, path } = config;
    const targets = new Set(
      resolved.subvolumes.flatMap((subvolume) => subvolume.targets.map((target) => target.name)),
    );
    return checks.ok(
      'config',
      'configuration',
      `${path} (${resolved.subvolumes.length} subvolume(s), ${targets.size} target(s), ${resolved.backupSets.length} backup set(s))`,
    );
  }
  return checks.fail(
    'config',
    'configuration',
    config.message,
    'the configuration file is missing or invalid; every check that needs it is skipped',
    [
      'snapkeep config validate --config FILE  (every problem with file:line and the key)',
      'snapkeep config init -o /etc/snapkeep/snapkeep.yaml  (a commented sample, when there is none)',
    ],
  );
}

/** Pure: is this machine's clock believable? */
export function clockCheck(clock: PrereqObservations['clock']): CheckResult {
  const checks = scope('prereqs');
  const now = clock.now;
  const fix = [
    'timedatectl set-ntp true  (or install chrony / systemd-timesyncd)',
    'then: timedatectl status  ("System clock synchronized: yes")',
  ];
  if (now.getUTCFullYear() < 2025) {
    return checks.fail(
      'clock',
      'clock',
      `this machine says it is ${now.toISOString()}`,
      'the clock was never set (no RTC battery, no NTP)',
      fix,
    );
  }
  if (clock.newestJournal && Date.parse(clock.newestJournal) - now.getTime() > 5 * 60_000) {
    return checks.fail(
      'clock',
      'clock',
      `the journal has an entry from ${clock.newestJournal}, after now (${now.toISOString()})`,
      'the clock went backwards: snapshot names and retention decisions follow it, so new snapshots sort before old ones',
      fix,
    );
  }
  if (clock.ntp === 'no') {
    return checks.warn(
      'clock',
      'clock',
      `${now.toISOString()}, not synchronised (timedatectl: NTPSynchronized=no)`,
      'NTP is off or cannot reach its servers',
      fix,
    );
  }
  return checks.ok(
    'clock',
    'clock',
    `${now.toISOString()}${clock.ntp === 'yes' ? ', synchronised (NTP)' : ' (NTP status unknown: no timedatectl)'}`,
  );
}

// --- effects ------------------------------------------------------------------------------------

async function probeTool(
  file: string,
  args: string[],
  pick: 'stdout' | 'stderr' = 'stdout',
): Promise<ToolProbe> {
  try {
    const result = await runCommand({ file, args, timeoutMs: 15_000 });
    const text = (pick === 'stdout' ? result.stdout : result.stderr) || result.stdout || result.stderr;
    if (result.exitCode !== 0)
      return { found: false, error: lastLines(text, 1) || `exit ${result.exitCode ?? 'signal'}` };
    return { found: true, version: text.trim().split('\n')[0]?.trim() };
  } catch (error) {
    return { found: false, error: (error as Error).message.replace(/ \(is it installed\?.*\)$/, '') };
  }
}

async function probeRestic(): Promise<ToolProbe> {
  const { Restic } = await import('../restic/restic.js');
  try {
    const restic = await Restic.detect();
    return { found: true, version: `restic ${restic.version.text} (${restic.binary})` };
  } catch (error) {
    return { found: false, error: (error as Error).message };
  }
}

async function probeTofu(): Promise<ToolProbe> {
  const tofu = await probeTool('tofu', ['version']);
  if (tofu.found) return tofu;
  const terraform = await probeTool('terraform', ['version']);
  return terraform.found ? terraform : { found: false, error: 'neither tofu nor terraform is on PATH' };
}

/** The nearest existing directory at or above `path`. */
async function nearestExisting(path: string): Promise<string> {
  let current = path;
  for (;;) {
    if (
      await stat(current).then(
        () => true,
        () => false,
      )
    )
      return current;
    const parent = dirname(current);
    if (parent === current) return current;
    current = parent;
  }
}

async function observeSubvolume(
  subvolume: ResolvedConfig['subvolumes'][number],
  mountinfo: string,
  inventory: Inventory | undefined,
): Promise<SubvolumeState> {
  const entries = parseMountinfo(mountinfo);
  const resolved = await realpath(subvolume.path).catch(() => undefined);
  const snapshotDirExisting = await nearestExisting(subvolume.snapshotDir);
  const snapshotMount = findMount(
    entries,
    await realpath(snapshotDirExisting).catch(() => snapshotDirExisting),
  );
  const base = {
    name: subvolume.name,
    path: subvolume.path,
    snapshotDir: subvolume.snapshotDir,
    snapshotDirExists: snapshotDirExisting === subvolume.snapshotDir,
    snapshotDirSource: snapshotMount?.source,
    snapshotDirFsType: snapshotMount?.fsType,
  };
  if (!resolved) return { ...base, how: 'mount', problem: `${subvolume.path} does not exist` };
  const mount = findMount(entries, resolved);
  if (!mount || mount.fsType !== 'btrfs')
    return {
      ...base,
      how: 'mount',
      problem: `${subvolume.path} is not on btrfs${mount ? ` (it is on ${mount.fsType} at ${mount.mountPoint})` : ''}`,
    };
  if (!inventory) return { ...base, how: 'mount', fsSource: mount.source };
  try {
    await inventory.subvolumeAt(subvolume.path);
    return { ...base, how: 'listed', fsSource: mount.source };
  } catch (error) {
    return { ...base, how: 'listed', fsSource: mount.source, problem: (error as Error).message };
  }
}

export async function observePrereqs(
  config: PrereqObservations['config'],
  options: { infra: boolean; newestJournal?: string },
): Promise<PrereqObservations> {
  const resolved = config.ok ? config.resolved : undefined;
  const sshSettings = resolved
    ? [
        ...resolved.subvolumes.flatMap((subvolume) => [
          subvolume.ssh,
          ...subvolume.targets.map((target) => target.ssh),
        ]),
      ].filter((ssh) => ssh !== undefined)
    : [];
  const needs: Record<Tool, boolean> = {
    btrfs: (resolved?.subvolumes.length ?? 0) > 0,
    flock: true,
    setpriv: true,
    restic: (resolved?.backupSets.length ?? 0) > 0,
    ssh: sshSettings.length > 0,
    zstd: sshSettings.some((ssh) => ssh.compression === 'zstd'),
    pg_dump: (resolved?.backupSets ?? []).some((set) =>
      set.sources.some((source) => source.type === 'postgres' && source.commandPrefix.length === 0),
    ),
    tofu: options.infra,
  };
  const [btrfs, flock, setpriv, restic, ssh, zstd, pgDump, tofu] = await Promise.all([
    probeTool('btrfs', ['--version']),
    probeTool('flock', ['--version']),
    probeTool('setpriv', ['--version']),
    needs.restic ? probeRestic() : undefined,
    needs.ssh ? probeTool('ssh', ['-V'], 'stderr') : undefined,
    needs.zstd ? probeTool('zstd', ['--version']) : undefined,
    needs.pg_dump ? probeTool('pg_dump', ['--version']) : undefined,
    needs.tofu ? probeTofu() : undefined,
  ]);
  const tools: Partial<Record<Tool, ToolProbe>> = { btrfs, flock, setpriv };
  if (restic) tools.restic = restic;
  if (ssh) tools.ssh = ssh;
  if (zstd) tools.zstd = zstd;
  if (pgDump) tools.pg_dump = pgDump;
  if (tofu) tools.tofu = tofu;

  let stateDir: PrereqObservations['stateDir'];
  if (resolved) {
    const checked = await nearestExisting(resolved.stateDir);
    const writable = await access(checked, constants.W_OK).then(
      () => undefined,
      (error: unknown) => (error as Error).message,
    );
    stateDir = { path: resolved.stateDir, checked, writable: writable === undefined, error: writable };
  }

  const euid = process.geteuid?.() ?? -1;
  const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
  // Listing subvolumes needs root; without it, the mount says whether the path is on btrfs.
  const inventory = euid === 0 ? new Inventory(localHost) : undefined;
  const subvolumes = await Promise.all(
    (resolved?.subvolumes ?? [])
      .filter((subvolume) => !subvolume.ssh)
      .map((subvolume) => observeSubvolume(subvolume, mountinfo, inventory)),
  );

  const ntp = await runCommand({
    file: 'timedatectl',
    args: ['show', '-p', 'NTPSynchronized', '--value'],
    timeoutMs: 5_000,
  })
    .then((result) => {
      const value = result.stdout.trim();
      return result.exitCode === 0 && (value === 'yes' || value === 'no') ? value : undefined;
    })
    .catch(() => undefined);
  return {
    config,
    tools,
    needs,
    stateDir,
    euid,
    subvolumes,
    clock: { now: new Date(), newestJournal: options.newestJournal, ntp },
  };
}
