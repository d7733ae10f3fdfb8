// `snapkeep doctor`: runs the chosen groups of checks and hands each section to the caller as it
// is ready, in a fixed order (prereqs, ssh per target, volume per target, aws, notify, logs). The
// observing of independent things (each target, AWS, the tools) runs in parallel; the decisions
// are the pure functions of each check module.
import { loadResolvedConfig } from '../config/config-cache.js';
import { UsageError } from '../errors.js';
import type { ResolvedConfig, ResolvedTarget } from '../config/resolve.js';
import type { SshSettings } from '../remote/ssh-host.js';
import { formatSshUrl } from '../remote/ssh-url.js';
import { readJournal, type JournalEntry } from '../state/journal.js';
import { scope, type CheckGroup, type CheckResult } from './check.js';
import { defaultOutputsPath, readAwsOutputs, type OutputsFile } from './aws-outputs.js';
import type { AwsInputs } from './aws-checks.js';
import { logChecks } from './log-checks.js';
import { jobsOfConfig, scheduleStaleHours } from '../state/status-inputs.js';
import { TransferStateFile } from '../state/transfer-state.js';
import { configCheck, observePrereqs, prereqChecks, type PrereqObservations } from './prereq-checks.js';
import {
  hostLabel,
  observeSshTarget,
  sshChecks,
  type SshObservations,
  type SshSubject,
} from './ssh-checks.js';
import { observeLocalTarget, volumeChecks, volumeObservationsFromSsh } from './volume-checks.js';

export interface DoctorOptions {
  readonly config?: string;
  readonly groups: ReadonlySet<CheckGroup>;
  /** A single group was asked for (`doctor aws`): what it needs and lacks is a failure, not a skip. */
  readonly explicit: boolean;
  /** Limit ssh, volume and staleness checks to these targets (default: all). */
  readonly targets: readonly string[];
  /** --stale-hours; undefined: each job's schedule's threshold (26 h without one). */
  readonly staleHours?: number;
  readonly recentHours: number;
  readonly outputsPath?: string;
  readonly region?: string;
  readonly instanceId?: string;
  readonly volumeId?: string;
  readonly awsEndpoint?: string;
  readonly mountPoint?: string;
}

export interface DoctorSection {
  readonly heading: string;
  readonly results: readonly CheckResult[];
}

/** The first lines of a failing ssh chain, as one check for `doctor volume` alone. */
function connectionProblem(target: string, results: readonly CheckResult[]): CheckResult | undefined {
  const failed = results.find(
    (result) =>
      result.status === 'FAIL' &&
      ['tcp', 'identity-file', 'host-key', 'authentication', 'filter'].includes(result.check),
  );
  if (!failed) return undefined;
  return scope('volume', target).fail(
    'connection',
    `reach the host (${failed.title})`,
    failed.detail,
    failed.cause ?? '',
    failed.fix ?? [],
  );
}

type LoadedConfig = { ok: true; path: string; resolved: ResolvedConfig } | { ok: false; message: string };

async function loadConfig(flag: string | undefined): Promise<LoadedConfig> {
  try {
    const { path, resolved } = await loadResolvedConfig(flag);
    return { ok: true, path, resolved };
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
}

function awsInputs(options: DoctorOptions, outputs: OutputsFile): AwsInputs {
  const fromFile = outputs.state === 'found' ? outputs.value : {};
  const flags = options.region ?? options.instanceId ?? options.volumeId;
  const endpointFromEnv = process.env.SNAPKEEP_AWS_ENDPOINT || undefined;
  const endpoint = options.awsEndpoint ?? endpointFromEnv;
  return {
    region:
      options.region ??
      fromFile.region ??
      (process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || undefined),
    instanceId: options.instanceId ?? fromFile.instanceId,
    volumeId: options.volumeId ?? fromFile.volumeId,
    source: outputs.state === 'found' ? outputs.path : flags ? 'the flags' : 'the defaults',
    ...(endpoint
      ? { endpoint, endpointFrom: options.awsEndpoint ? '--aws-endpoint' : 'SNAPKEEP_AWS_ENDPOINT' }
      : {}),
  };
}

export async function runDoctorChecks(
  options: DoctorOptions,
  onSection: (section: DoctorSection) => void,
): Promise<void> {
  const groups = options.groups;
  const config = await loadConfig(options.config);
  const resolved = config.ok ? config.resolved : undefined;
  const journal: JournalEntry[] = resolved ? await readJournal(resolved.stateDir).catch(() => []) : [];
  const transfers = await TransferStateFile.load(resolved?.stateDir ?? '/nonexistent');
  const outputsPath = options.outputsPath ?? defaultOutputsPath(resolved?.stateDir ?? '/var/lib/snapkeep');
  const outputs = await readAwsOutputs(outputsPath);
  const awsHost = outputs.state === 'found' ? outputs.value.host : undefined;
  const awsApplies = outputs.state !== 'missing' || Boolean(options.instanceId ?? options.volumeId);

  const wanted = (name: string): boolean => options.targets.length === 0 || options.targets.includes(name);
  const targets = new Map<string, ResolvedTarget>();
  for (const subvolume of resolved?.subvolumes ?? [])
    for (const target of subvolume.targets)
      if (wanted(target.name) && !targets.has(target.name)) targets.set(target.name, target);
  const known = new Set(
    resolved?.subvolumes.flatMap((subvolume) => subvolume.targets.map((target) => target.name)),
  );
  const unknown = resolved ? options.targets.filter((name) => !known.has(name)) : [];
  if (unknown.length > 0)
    throw new UsageError(
      `no subvolume sends to ${unknown.map((name) => `"${name}"`).join(', ')}; targets in the config: ${[...known].join(', ') || '(none)'}`,
    );
  const isAws = (ssh: SshSettings, path: string): boolean =>
    awsHost !== undefined &&
    (ssh.location.host === awsHost ||
      (outputs.state === 'found' && outputs.value.targetUrl === formatSshUrl({ ...ssh.location, path })));
  const expectedMountPoint = (target: ResolvedTarget): string | undefined =>
    options.mountPoint ??
    (target.ssh && isAws(target.ssh, target.path) && outputs.state === 'found'
      ? outputs.value.mountPoint
      : undefined);

  // Start everything that is independent at once.
  const prereqs: Promise<PrereqObservations> | undefined = groups.has('prereqs')
    ? observePrereqs(config, { infra: awsApplies, newestJournal: journal.at(-1)?.time })
    : undefined;
  const sshObserved = new Map<string, Promise<SshObservations>>();
  if (groups.has('ssh') || groups.has('volume')) {
    for (const target of targets.values()) {
      if (target.ssh) sshObserved.set(target.name, observeSshTarget({ ...target, ssh: target.ssh }, journal));
    }
  }
  const awsSelected = groups.has('aws') && (awsApplies || options.explicit);
  const inputs = awsInputs(options, outputs);
  const awsObserved =
    awsSelected && outputs.state !== 'invalid' && inputs.region && (inputs.instanceId || inputs.volumeId)
      ? import('./aws-checks.js').then(({ observeAws }) => observeAws(inputs))
      : undefined;
  // Nobody waits on these until their section: a rejection must not go unhandled meanwhile.
  for (const promise of [prereqs, awsObserved, ...sshObserved.values()]) promise?.catch(() => undefined);

  if (prereqs) {
    onSection({ heading: 'prereqs', results: prereqChecks(await prereqs) });
  } else if (!config.ok) {
    onSection({ heading: 'prereqs', results: [configCheck(config)] });
  }

  const subjectOf = (target: ResolvedTarget & { ssh: SshSettings }): SshSubject => ({
    target: target.name,
    path: target.path,
    ssh: target.ssh,
    aws: isAws(target.ssh, target.path),
  });

  if (groups.has('ssh')) {
    for (const target of targets.values()) {
      if (!target.ssh) continue;
      const observed = await sshObserved.get(target.name)!;
      onSection({
        heading: `ssh ${target.name} (${hostLabel(target.ssh)})`,
        results: sshChecks(subjectOf({ ...target, ssh: target.ssh }), observed),
      });
    }
  }

  if (groups.has('volume')) {
    for (const target of targets.values()) {
      const heading = `volume ${target.name} (${target.ssh ? formatSshUrl({ ...target.ssh.location, path: target.path }) : target.path})`;
      if (target.ssh) {
        const observed = await sshObserved.get(target.name)!;
        const subject = subjectOf({ ...target, ssh: target.ssh });
        const volume = volumeObservationsFromSsh(
          {
            target: target.name,
            host: target.ssh.location.host,
            path: target.path,
            expectedMountPoint: expectedMountPoint(target),
            aws: subject.aws,
          },
          observed,
        );
        const results = volumeChecks(volume);
        // Alone (`doctor volume`), an unreachable host must fail here, with the ssh chain's fix.
        // (A missing filter root is the volume's own FAIL already.)
        const problem =
          groups.has('ssh') || volume.rootMissing
            ? undefined
            : connectionProblem(target.name, sshChecks(subject, observed));
        onSection({ heading, results: problem ? [problem, ...results] : results });
      } else {
        onSection({
          heading,
          results: volumeChecks(
            await observeLocalTarget(
              target.name,
              target.path,
              options.mountPoint,
              (resolved?.subvolumes ?? [])
                .filter(
                  (subvolume) =>
                    !subvolume.ssh && subvolume.targets.some((each) => each.name === target.name),
                )
                .map((subvolume) => subvolume.path),
            ),
          ),
        });
      }
    }
  }

  if (groups.has('sources')) {
    const { observeSource, sourceChecks } = await import('./source-checks.js');
    for (const subvolume of resolved?.subvolumes ?? []) {
      if (subvolume.ssh) continue; // on another host: not looked into from here
      onSection({
        heading: `sources ${subvolume.name} (${subvolume.path})`,
        results: sourceChecks(await observeSource(subvolume.name, subvolume.path)),
      });
    }
  }

  if (groups.has('aws')) {
    const checks = scope('aws');
    const heading = `aws${inputs.region ? ` (${inputs.region})` : ''}`;
    if (!awsSelected) {
      onSection({
        heading,
        results: [
          checks.skip('outputs', 'AWS outputs', `no ${outputsPath} and no --instance-id: not an AWS target`),
        ],
      });
    } else if (outputs.state === 'invalid') {
      onSection({
        heading,
        results: [
          checks.fail(
            'outputs',
            'AWS outputs',
            `${outputsPath} ${outputs.error}`,
            'the outputs file is damaged or not what snapkeep infra writes',
            ['snapkeep infra apply  (rewrites it)', 'or pass --region, --instance-id and --volume-id'],
          ),
        ],
      });
    } else {
      const { awsChecks, missingInputs } = await import('./aws-checks.js');
      const missing = missingInputs(inputs);
      const results: CheckResult[] = [];
      if (outputs.state === 'found') results.push(checks.ok('outputs', 'AWS outputs', outputsPath));
      if (missing.length > 0 && (!inputs.region || (!inputs.instanceId && !inputs.volumeId))) {
        results.push(
          checks.fail(
            'outputs',
            'AWS outputs',
            `missing: ${missing.join('; ')}`,
            outputs.state === 'missing' ? `there is no ${outputsPath}` : `${outputsPath} lacks them`,
            ['snapkeep infra apply  (writes the outputs)', 'or pass --region, --instance-id and --volume-id'],
          ),
        );
      }
      if (awsObserved) results.push(...awsChecks(inputs, await awsObserved));
      onSection({ heading, results });
    }
  }

  if (groups.has('notify') && resolved) {
    const { notifyChecks, observeNotify } = await import('./notify-checks.js');
    const scheduled = resolved.schedules.find((schedule) => schedule.command === 'watchdog');
    const watchdog =
      scheduled?.calendar ?? (resolved.schedules.length > 0 ? resolved.notify.watchdog : undefined);
    onSection({ heading: 'notify', results: notifyChecks(await observeNotify(resolved, watchdog)) });
  }

  if (groups.has('logs') && resolved) {
    const now = new Date();
    const pairs = (resolved.subvolumes ?? []).flatMap((subvolume) =>
      subvolume.targets
        .filter((target) => wanted(target.name))
        .map((target) => ({ subvolume: subvolume.name, target: target.name })),
    );
    onSection({
      heading: 'logs',
      results: logChecks({
        journal,
        stateDir: resolved.stateDir,
        pairs,
        backupSets: options.targets.length === 0 ? resolved.backupSets.map((set) => set.name) : [],
        // The jobs status and check report: each pair, each set on each of its repositories.
        jobs: jobsOfConfig(resolved).filter((job) =>
          job.kind === 'btrfs' ? wanted(job.target) : options.targets.length === 0,
        ),
        transfers: (subvolume, target) => transfers.get(subvolume, target),
        now,
        staleHours: options.staleHours ?? scheduleStaleHours(resolved.schedules, now),
        recentHours: options.recentHours,
      }),
    });
  }
}
