// `pull`: fetch another device's latest snapshot from a shared target onto this machine (a new
// machine, or a second device). Pulled snapshots are kept in a local directory (the newest is the
// next pull's incremental parent; older ones beyond `keep` are deleted); a checkout also makes a
// writable subvolume from the newest, moving whatever is there aside. Everything it has to say
// is a PullEvent; src/cli/pull-command.ts renders them.
import { applyCheckout, btrfsFilesystemOf, planCheckout, type CheckoutPlan } from '../btrfs/fetch.js';
import { deleteSubvolumes } from '../btrfs/btrfs-commands.js';
import { Hosts } from '../btrfs/hosts.js';
import { datedSubvolumes, localHost } from '../btrfs/inventory.js';
import { messageOf } from '../btrfs/observe.js';
import { resolveLocation, type ResolvedConfig } from '../config/resolve.js';
import { ExitCode, SnapkeepError, UsageError } from '../errors.js';
import { pickCopy, planFetch, planPulledRetention, type FetchPlan } from '../plan/fetch-plan.js';
import type { SshSettings } from '../remote/ssh-host.js';
import { isSshUrl, parseSshUrl } from '../remote/ssh-url.js';
import { withRun, type RunRequest } from '../state/run-lifecycle.js';
import { TransferStateFile } from '../state/transfer-state.js';
import { receiveFetch, type FetchEvent } from './fetch-receive.js';

export interface PullRequest {
  readonly config: ResolvedConfig;
  readonly dryRun: boolean;
  /** A target name from the config, an ssh:// URL, or a local directory. */
  readonly from: string;
  /** The snapshot basename there (the other device's subvolume). */
  readonly name: string;
  /** A snapshot name; default the newest. */
  readonly snapshot?: string;
  readonly into: string;
  readonly checkout?: string;
  readonly keep: number;
  readonly force: boolean;
  readonly now?: Date;
}

/** What the pull will do (under --dry-run: would do), decided before anything changes. */
export interface PullPlanEvent {
  readonly type: 'plan';
  readonly name: string;
  readonly from: string;
  readonly dryRun: boolean;
  readonly snapshot: string;
  readonly fetch: FetchPlan;
  /** Pulled snapshots deleted after the fetch: beyond the newest `keep`. */
  readonly expired: readonly string[];
  readonly keep: number;
  readonly checkout?: CheckoutPlan;
}

/** An expired pulled snapshot deleted (or not). */
export interface DeletePulledEvent {
  readonly type: 'step';
  readonly kind: 'delete-pulled';
  readonly path: string;
  readonly ok: boolean;
  readonly error?: string;
}

export interface PulledEvent {
  readonly type: 'pulled';
  readonly name: string;
  /** The pulled snapshot's path here. */
  readonly snapshot: string;
  /** Its name, and where it came from. */
  readonly snapshotName: string;
  readonly from: string;
  readonly checkout?: string;
  readonly aside?: string;
}

export type PullEvent = PullPlanEvent | FetchEvent | DeletePulledEvent | PulledEvent;

/** Where `from` is: a configured target (its ssh settings), an ssh:// URL or a local directory. */
function resolveFrom(config: ResolvedConfig, from: string): { path: string; ssh?: SshSettings } {
  const target = config.subvolumes
    .flatMap((subvolume) => subvolume.targets)
    .find((candidate) => candidate.name === from);
  if (target) return { path: target.path, ...(target.ssh ? { ssh: target.ssh } : {}) };
  if (isSshUrl(from)) {
    const parsed = parseSshUrl(from);
    if (!parsed.ok) throw new UsageError(`${from} ${parsed.error}`);
    return resolveLocation(from, config.ssh);
  }
  if (from.startsWith('/')) return { path: from };
  const names = [
    ...new Set(
      config.subvolumes.flatMap((subvolume) => subvolume.targets.map((candidate) => candidate.name)),
    ),
  ];
  throw new UsageError(
    `"${from}" is not a target in the config (${names.join(', ') || 'none defined'}), an ssh:// URL or an absolute path`,
  );
}

/** Plan, and unless a dry run apply as one run; the exit code. */
export async function pull(request: PullRequest, report: (event: PullEvent) => void): Promise<number> {
  const { config } = request;
  const now = request.now ?? new Date();
  const source = resolveFrom(config, request.from);
  const hosts = new Hosts();
  try {
    const remote = hosts.inventoryOf(source);
    const local = hosts.inventoryOf();
    let copies;
    try {
      copies = datedSubvolumes(await remote.subvolumesIn(source.path), request.name).filter(
        (copy) => copy.readonly,
      );
    } catch (error) {
      throw new SnapkeepError(
        `cannot read ${source.path} on ${remote.host.label}: ${messageOf(error)}`,
        ExitCode.targetUnreachable,
      );
    }
    const wanted = pickCopy(copies, request.snapshot ?? 'latest');
    if (!wanted)
      throw new SnapkeepError(
        `${request.snapshot ? `no snapshot named ${request.snapshot}` : `no snapshot of ${request.name}`} in ${source.path} on ${remote.host.label}${
          copies.length > 0 ? `; there are: ${copies.map((copy) => copy.name).join(', ')}` : ''
        }`,
        ExitCode.usage,
      );
    const here = (await localHost.exists(request.into))
      ? datedSubvolumes(await local.subvolumesIn(request.into), request.name)
      : [];
    await btrfsFilesystemOf(
      local,
      request.into,
      `--into ${request.into}`,
      'pulled snapshots are received with btrfs receive: choose a directory on btrfs',
    );
    const fetch = planFetch({
      label: request.name,
      from: request.from,
      wanted,
      sourceCopies: copies,
      localDirectory: request.into,
      local: here,
    });
    if (fetch.kind === 'blocked') throw new SnapkeepError(`cannot pull ${wanted.name}: ${fetch.reason}`);
    const pulledPath = fetch.kind === 'present' ? fetch.local.path : `${request.into}/${wanted.name}`;
    const afterPull =
      fetch.kind === 'present'
        ? here
        : [...here, { ...wanted, path: pulledPath, receivedUuid: wanted.receivedUuid ?? wanted.uuid }];
    const expired = planPulledRetention(afterPull, wanted.name, request.keep);
    const checkout: CheckoutPlan | undefined =
      request.checkout !== undefined
        ? await planCheckout({
            snapshot: pulledPath,
            path: request.checkout,
            snapshotDir: request.into,
            force: request.force,
            now,
            inventory: local,
            option: '--checkout',
            otherFilesystemHint: `choose an --into on the filesystem of --checkout (the snapshot is received there)`,
          })
        : undefined;

    report({
      type: 'plan',
      name: request.name,
      from: request.from,
      dryRun: request.dryRun,
      snapshot: wanted.name,
      fetch,
      expired: expired.map((subvolume) => subvolume.path),
      keep: request.keep,
      checkout,
    });
    if (request.dryRun) return ExitCode.ok;

    const runRequest: RunRequest = {
      stateDir: config.stateDir,
      command: 'pull',
      fields: { name: request.name, from: request.from, snapshot: wanted.name, into: request.into },
      now,
    };
    return await withRun(runRequest, async ({ journal }) => {
      const transfers = await TransferStateFile.load(config.stateDir);
      const transferKey = `pull:${request.from}`;
      if (fetch.kind === 'receive') {
        const record = transfers.get(request.name, transferKey);
        const outcome = await receiveFetch(
          {
            plan: fetch,
            sourceHost: remote.host,
            fields: { name: request.name, from: request.from, snapshot: wanted.name },
            expectedBytes: fetch.step.parent ? record.lastIncrementalBytes : record.lastFullBytes,
            journal,
            journalFields: { pull: true },
          },
          report,
        );
        if (!outcome.ok) return { exitCode: ExitCode.fatal, fields: { error: outcome.error } };
        if (outcome.bytes)
          transfers.update(
            request.name,
            transferKey,
            fetch.step.parent ? { lastIncrementalBytes: outcome.bytes } : { lastFullBytes: outcome.bytes },
          );
        await transfers.save();
      }
      let failures = 0;
      for (const subvolume of expired) {
        const result = await localHost.run(deleteSubvolumes([subvolume.path]));
        const ok = result.exitCode === 0;
        if (!ok) failures++;
        const error = ok ? undefined : result.stderr.trim();
        await journal.append('step', { kind: 'delete-pulled', path: subvolume.path, ok, error });
        report({ type: 'step', kind: 'delete-pulled', path: subvolume.path, ok, error });
      }
      if (checkout) await applyCheckout(checkout);
      report({
        type: 'pulled',
        name: request.name,
        snapshot: pulledPath,
        snapshotName: wanted.name,
        from: request.from,
        checkout: checkout?.path,
        aside: checkout?.aside,
      });
      return {
        exitCode: failures === 0 ? ExitCode.ok : ExitCode.partial,
        fields: { snapshot: pulledPath, checkout: checkout?.path, aside: checkout?.aside },
      };
    });
  } finally {
    await hosts.close();
  }
}
