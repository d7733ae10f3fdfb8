// `verify`: `restic check` of every repository the backup sets use, reading a different 1/N of
// the pack data each time (`--read-data-subset k/N`, k remembered in the state directory), so the
// whole repository is read over N runs without reading it all every night.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../exec/command.js';
import { loadResolvedConfig } from '../config/config-cache.js';
import type { ResolvedRepository } from '../config/resolve.js';
import { ExitCode, SnapkeepError, UsageError } from '../errors.js';
import { Restic } from '../restic/restic.js';
import { Journal, newRunId } from '../state/journal.js';
import { selectSets } from './backup-command.js';
import { createOutput } from './output.js';

type VerifyState = Record<string, { nextPart: number; parts: number; lastFullReadAt?: string }>;

async function loadState(path: string): Promise<VerifyState> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as VerifyState;
  } catch {
    return {};
  }
}

export async function runVerify(options: {
  config?: string;
  json: boolean;
  sets: readonly string[];
  parts: number;
}): Promise<number> {
  const output = createOutput(options.json);
  if (!Number.isInteger(options.parts) || options.parts < 1 || options.parts > 1000)
    throw new UsageError(
      `--parts ${options.parts}: expected a whole number from 1 (read everything) to 1000`,
    );
  const { resolved } = await loadResolvedConfig(options.config);
  const sets = selectSets(resolved, options.sets);
  const repositories = new Map<string, ResolvedRepository>();
  for (const set of sets)
    for (const repository of [set.repository, ...set.offsite]) repositories.set(repository.name, repository);
  if (repositories.size === 0)
    throw new UsageError('no backup sets are defined (backup_sets: in the config)');
  const restic = await Restic.detect();
  const statePath = join(resolved.stateDir, 'verify.json');
  const state = await loadState(statePath);
  const journal = new Journal(resolved.stateDir, newRunId());
  let exitCode: number = ExitCode.ok;
  for (const repository of repositories.values()) {
    const remembered = state[repository.name];
    // A changed N starts the rotation again.
    const part = remembered && remembered.parts === options.parts ? remembered.nextPart : 1;
    const subset = `${part}/${options.parts}`;
    const startedAt = Date.now();
    let ok = false;
    let detail: string;
    try {
      const result = await runCommand(
        await restic.commandFor(repository, ['check', '--read-data-subset', subset]),
      );
      ok = result.exitCode === 0;
      const failure = ok ? undefined : restic.failure(repository, result, 'check');
      detail = failure ? failure.message : `structure and pack data ${subset} read and verified`;
      // A damaged repository is a failed job (3); unreachable or a wrong password keep their codes.
      if (failure)
        exitCode = Math.max(exitCode, failure.problem === 'other' ? ExitCode.partial : failure.exitCode);
    } catch (error) {
      if (!(error instanceof SnapkeepError)) throw error;
      detail = error.message;
      exitCode = Math.max(exitCode, error.exitCode);
    }
    if (ok) {
      const next = (part % options.parts) + 1;
      state[repository.name] = {
        nextPart: next,
        parts: options.parts,
        ...(part === options.parts
          ? { lastFullReadAt: new Date().toISOString() }
          : remembered?.lastFullReadAt
            ? { lastFullReadAt: remembered.lastFullReadAt }
            : {}),
      };
    }
    const durationMs = Date.now() - startedAt;
    output.event('check', { repository: repository.name, ok, subset, detail, durationMs });
    output.text(`${ok ? 'ok  ' : 'FAIL'} ${repository.name}: ${detail} [${(durationMs / 1000).toFixed(2)}s]`);
    if (!ok) output.warn(`ERROR: ${repository.name}: ${detail}`);
    await journal.append('verify', { repository: repository.name, ok, subset, durationMs });
  }
  await mkdir(resolved.stateDir, { recursive: true });
  await writeFile(`${statePath}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  await rename(`${statePath}.tmp`, statePath);
  return exitCode;
}
