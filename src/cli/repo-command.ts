// `repo init` creates missing restic repositories (an offsite one with its set's primary chunker
// parameters, so copies dedup); `repo check-permissions` proves with a canary snapshot what the
// configured identity can do: write and read (it must), delete (it must not, for an offsite).
import type { ResolvedConfig, ResolvedRepository } from '../config/resolve.js';
import { loadResolvedConfig } from '../config/config-cache.js';
import { ExitCode, SnapkeepError, UsageError } from '../errors.js';
import { resolveSecretsOf } from '../restic/backup-set.js';
import { Restic } from '../restic/restic.js';
import { createOutput } from './output.js';
import { createPrinter, toStderr, type TextLine } from './printer.js';
import type { RepoEvent } from './repo-events.js';

export function repoText(event: RepoEvent): readonly TextLine[] {
  switch (event.type) {
    case 'repository': {
      const how = event.chunkerFrom
        ? ` with the chunker parameters of ${event.chunkerFrom} (copies dedup)`
        : '';
      if (!event.created && event.exists) return [`${event.name}: exists (${event.url})`];
      return [`${event.name}: ${event.dryRun ? 'would create' : 'created'} ${event.url}${how}`];
    }
    case 'repository-error':
      return [toStderr(`ERROR: ${event.name}: ${event.error}`)];
    case 'check':
      return [`${event.status === 'ok' ? 'OK  ' : 'FAIL'} ${event.check}: ${event.detail}`];
    case 'note':
      return [`     (${event.message})`];
  }
}

function repositories(
  config: ResolvedConfig,
): Map<string, { repository: ResolvedRepository; primary?: ResolvedRepository }> {
  const found = new Map<string, { repository: ResolvedRepository; primary?: ResolvedRepository }>();
  for (const set of config.backupSets) {
    if (!found.has(set.repository.name)) found.set(set.repository.name, { repository: set.repository });
    for (const offsite of set.offsite)
      found.set(offsite.name, { repository: offsite, primary: set.repository });
  }
  return found;
}

function select(config: ResolvedConfig, names: readonly string[]) {
  const all = repositories(config);
  const unknown = names.filter((name) => !all.has(name));
  if (unknown.length > 0)
    throw new UsageError(
      `unknown repository ${unknown.join(', ')}; the backup sets use: ${[...all.keys()].join(', ') || '(none)'}`,
    );
  return names.length === 0 ? [...all.values()] : names.map((name) => all.get(name)!);
}

export async function runRepoInit(options: {
  config?: string;
  json: boolean;
  dryRun: boolean;
  names: readonly string[];
}): Promise<number> {
  const print = createPrinter(createOutput(options.json), repoText);
  const { resolved } = await loadResolvedConfig(options.config);
  const restic = await Restic.detect();
  const selected = select(resolved, options.names);
  // Before the first init: a missing secret is a configuration error, nothing created.
  await resolveSecretsOf(
    restic,
    [],
    selected.flatMap(({ repository, primary }) => (primary ? [repository, primary] : [repository])),
  );
  let exitCode: number = ExitCode.ok;
  for (const { repository, primary } of selected) {
    try {
      const names = { name: repository.name, url: repository.url };
      if (await restic.exists(repository)) {
        print({ type: 'repository', ...names, exists: true, created: false });
        continue;
      }
      const chunker = primary ? { chunkerFrom: primary.name } : {};
      if (options.dryRun) {
        print({ type: 'repository', ...names, exists: false, created: false, dryRun: true, ...chunker });
        continue;
      }
      if (primary && !(await restic.exists(primary))) await restic.init(primary);
      await restic.init(repository, primary);
      print({ type: 'repository', ...names, exists: true, created: true, ...chunker });
    } catch (error) {
      if (!(error instanceof SnapkeepError)) throw error;
      print({
        type: 'repository-error',
        name: repository.name,
        error: error.message,
        exitCode: error.exitCode,
      });
      exitCode = Math.max(exitCode, error.exitCode);
    }
  }
  return exitCode;
}

export async function runCheckPermissions(options: {
  config?: string;
  json: boolean;
  name: string;
}): Promise<number> {
  const print = createPrinter(createOutput(options.json), repoText);
  const { resolved } = await loadResolvedConfig(options.config);
  const [{ repository }] = select(resolved, [options.name]) as [{ repository: ResolvedRepository }];
  const restic = await Restic.detect();
  const checks: { check: string; ok: boolean; detail: string }[] = [];
  const report = (check: string, ok: boolean, detail: string): void => {
    checks.push({ check, ok, detail });
    print({ type: 'check', repository: repository.name, check, status: ok ? 'ok' : 'fail', detail });
  };
  // Write: a tiny canary snapshot. It stays (an append-only repository cannot lose it; that is the point).
  let canary: string;
  try {
    canary = (
      await restic.backupSmall(repository, `snapkeep canary ${new Date().toISOString()}\n`, {
        filename: 'snapkeep-canary.txt',
        tags: ['snapkeep-canary'],
      })
    ).snapshotId;
    report('write', true, `created the canary snapshot ${canary.slice(0, 8)}`);
  } catch (error) {
    if (!(error instanceof SnapkeepError)) throw error;
    report('write', false, error.message);
    return error.exitCode;
  }
  const listed = await restic.snapshots(repository, ['snapkeep-canary']).catch(() => []);
  report(
    'read',
    listed.some((snapshot) => snapshot.id.startsWith(canary)),
    `the canary is listed`,
  );
  if (restic.version.minor < 17)
    print({
      type: 'note',
      repository: repository.name,
      message: `restic ${restic.version.text} retries a refused delete for about 45 s before it gives up`,
    });
  const forgot = await restic.forget(repository, [canary]);
  // What counts is whether the canary is gone, not what forget says: restic 0.18 exits 0 against
  // an append-only REST server that refused the delete.
  const after = await restic.snapshots(repository, ['snapkeep-canary']);
  const gone = !after.some((snapshot) => snapshot.id.startsWith(canary));
  if (gone)
    report(
      'delete refused',
      false,
      `this identity DELETED the canary: ${repository.name} is not append-only for it. For an offsite repository use a server-enforced append-only layer (rest-server or rclone serve restic --append-only) or S3 Object Lock with a policy that denies deletes outside locks/ (docs/aws-backup-policy.json).`,
    );
  else
    report(
      'delete refused',
      true,
      `the canary is still there after forget (${forgot.exitCode === 0 ? 'restic reported success, the server refused' : (forgot.stderr.trim().split('\n').filter(Boolean).at(-1) ?? `exit ${forgot.exitCode}`)}); it stays as proof`,
    );
  return checks.every((check) => check.ok) ? ExitCode.ok : ExitCode.partial;
}
