// `pull`: fetch another device's latest snapshot from a shared target onto this machine (a new
// machine, or a second device). Pulled snapshots are kept in a local directory (the newest is the
// next pull's incremental parent; older ones beyond --keep are deleted); --checkout also makes a
// writable subvolume from the newest, moving whatever is there aside.
import { applyCheckout, btrfsFilesystemOf, planCheckout, type CheckoutPlan } from '../btrfs/fetch.js';
import { deleteSubvolumes } from '../btrfs/btrfs-commands.js';
import { datedSubvolumes, localHost } from '../btrfs/inventory.js';
import { messageOf } from '../btrfs/observe.js';
import { snapshotBasenamePattern } from '../snapshot-name.js';
import { loadResolvedConfig } from '../config/config-cache.js';
import { resolveLocation, type ResolvedConfig } from '../config/resolve.js';
import { ExitCode, SnapkeepError, UsageError } from '../errors.js';
import { pickCopy, planFetch, planPulledRetention } from '../plan/fetch-plan.js';
import { Hosts } from '../btrfs/hosts.js';
import type { SshSettings } from '../remote/ssh-host.js';
import { isSshUrl, parseSshUrl } from '../remote/ssh-url.js';
import { withRun, type RunRequest } from '../state/run-lifecycle.js';
import { TransferStateFile } from '../state/transfer-state.js';
import { checkoutText, describeFetch, fetchText } from './fetch-output.js';
import { receiveFetch } from '../replication/fetch-receive.js';
import { createPrinter } from './printer.js';
import { createOutput } from './output.js';

export interface PullOptions {
  readonly config?: string;
  readonly json: boolean;
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

export async function runPull(options: PullOptions): Promise<number> {
  const output = createOutput(options.json);
  if (!snapshotBasenamePattern.test(options.name))
    throw new UsageError(
      `name "${options.name}": expected a snapshot basename such as "home" (letters, digits, _ @ + - .)`,
    );
  if (!options.into.startsWith('/'))
    throw new UsageError(`--into ${options.into}: expected an absolute path`);
  if (options.checkout !== undefined && !options.checkout.startsWith('/'))
    throw new UsageError(`--checkout ${options.checkout}: expected an absolute path`);
  if (!Number.isInteger(options.keep) || options.keep < 1)
    throw new UsageError(
      `--keep ${options.keep}: expected a whole number of at least 1 (the newest is the next pull's parent)`,
    );
  const { resolved } = await loadResolvedConfig(options.config);
  const now = options.now ?? new Date();
  const source = resolveFrom(resolved, options.from);
  const hosts = new Hosts();
  try {
    const remote = hosts.inventoryOf(source);
    const local = hosts.inventoryOf();
    let copies;
    try {
      copies = datedSubvolumes(await remote.subvolumesIn(source.path), options.name).filter(
        (copy) => copy.readonly,
      );
    } catch (error) {
      throw new SnapkeepError(
        `cannot read ${source.path} on ${remote.host.label}: ${messageOf(error)}`,
        ExitCode.targetUnreachable,
      );
    }
    const wanted = pickCopy(copies, options.snapshot ?? 'latest');
    if (!wanted)
      throw new SnapkeepError(
        `${options.snapshot ? `no snapshot named ${options.snapshot}` : `no snapshot of ${options.name}`} in ${source.path} on ${remote.host.label}${
          copies.length > 0 ? `; there are: ${copies.map((copy) => copy.name).join(', ')}` : ''
        }`,
        ExitCode.usage,
      );
    const here = (await localHost.exists(options.into))
      ? datedSubvolumes(await local.subvolumesIn(options.into), options.name)
      : [];
    await btrfsFilesystemOf(
      local,
      options.into,
      `--into ${options.into}`,
      'pulled snapshots are received with btrfs receive: choose a directory on btrfs',
    );
    const fetch = planFetch({
      label: options.name,
      from: options.from,
      wanted,
      sourceCopies: copies,
      localDirectory: options.into,
      local: here,
    });
    if (fetch.kind === 'blocked') throw new SnapkeepError(`cannot pull ${wanted.name}: ${fetch.reason}`);
    const pulledPath = fetch.kind === 'present' ? fetch.local.path : `${options.into}/${wanted.name}`;
    const afterPull =
      fetch.kind === 'present'
        ? here
        : [...here, { ...wanted, path: pulledPath, receivedUuid: wanted.receivedUuid ?? wanted.uuid }];
    const expired = planPulledRetention(afterPull, wanted.name, options.keep);
    const checkout: CheckoutPlan | undefined =
      options.checkout !== undefined
        ? await planCheckout({
            snapshot: pulledPath,
            path: options.checkout,
            snapshotDir: options.into,
            force: options.force,
            now,
            inventory: local,
            option: '--checkout',
            otherFilesystemHint: `choose an --into on the filesystem of --checkout (the snapshot is received there)`,
          })
        : undefined;

    const prefix = options.dryRun ? 'would ' : '';
    output.event('plan', {
      name: options.name,
      from: options.from,
      dryRun: options.dryRun,
      snapshot: wanted.name,
      fetch,
      expired: expired.map((subvolume) => subvolume.path),
      checkout,
    });
    output.text(describeFetch(fetch, options.from, prefix));
    for (const subvolume of expired)
      output.text(
        `${prefix}delete ${subvolume.path} (older than the newest ${options.keep} pulled, --keep ${options.keep})`,
      );
    for (const line of checkoutText(checkout, prefix)) output.text(line);
    if (options.dryRun) {
      output.text('dry run: nothing changed');
      return ExitCode.ok;
    }

    const request: RunRequest = {
      stateDir: resolved.stateDir,
      command: 'pull',
      fields: { name: options.name, from: options.from, snapshot: wanted.name, into: options.into },
      now,
    };
    return await withRun(request, async ({ journal }) => {
      const transfers = await TransferStateFile.load(resolved.stateDir);
      const transferKey = `pull:${options.from}`;
      if (fetch.kind === 'receive') {
        const record = transfers.get(options.name, transferKey);
        const outcome = await receiveFetch(
          {
            plan: fetch,
            sourceHost: remote.host,
            fields: { name: options.name, from: options.from, snapshot: wanted.name },
            expectedBytes: fetch.step.parent ? record.lastIncrementalBytes : record.lastFullBytes,
            journal,
            journalFields: { pull: true },
          },
          createPrinter(output, fetchText),
        );
        if (!outcome.ok) return { exitCode: ExitCode.fatal, fields: { error: outcome.error } };
        if (outcome.bytes)
          transfers.update(
            options.name,
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
        await journal.append('step', {
          kind: 'delete-pulled',
          path: subvolume.path,
          ok,
          error: ok ? undefined : result.stderr.trim(),
        });
        output.event('step', { kind: 'delete-pulled', path: subvolume.path, ok });
        output.text(
          `${ok ? 'ok  ' : 'FAIL'} delete ${subvolume.path}${ok ? '' : `: ${result.stderr.trim()}`}`,
        );
      }
      if (checkout) await applyCheckout(checkout);
      output.event('pulled', {
        name: options.name,
        snapshot: pulledPath,
        checkout: checkout?.path,
        aside: checkout?.aside,
      });
      output.text(
        `pulled ${wanted.name} from ${options.from}: ${pulledPath}${checkout ? `; writable ${checkout.path}${checkout.aside ? ` (the previous one is at ${checkout.aside})` : ''}` : ''}`,
      );
      return {
        exitCode: failures === 0 ? ExitCode.ok : ExitCode.partial,
        fields: { snapshot: pulledPath, checkout: checkout?.path, aside: checkout?.aside },
      };
    });
  } finally {
    await hosts.close();
  }
}
