// `verify`: `restic check` of every repository the backup sets use, reading a different 1/N of
// the pack data each time; `--drill` also restores each backup set's latest run and one btrfs
// target copy per run (src/operations/verify.ts). This module renders its events.
import { loadResolvedConfig } from '../config/config-cache.js';
import { checkParts, verify, type VerifyEvent } from '../operations/verify.js';
import { createOutput } from './output.js';
import { createPrinter, toStderr, type TextLine } from './printer.js';

const seconds = (durationMs: number): string => `${(durationMs / 1000).toFixed(2)}s`;

export function verifyText(event: VerifyEvent): readonly TextLine[] {
  switch (event.type) {
    case 'plan':
      return [`would check ${event.repository}: structure and pack data ${event.subset}`];
    case 'check':
      return [
        `${event.status === 'ok' ? 'ok  ' : 'FAIL'} ${event.repository}: ${event.detail} [${seconds(event.durationMs)}]`,
        ...(event.status === 'ok' ? [] : [toStderr(`ERROR: ${event.repository}: ${event.detail}`)]),
      ];
    case 'drill-plan': {
      if (event.kind === 'restic')
        return [
          `would drill ${event.set}: restore its latest run from ${event.repository} into a scratch directory and scratch databases, and compare`,
        ];
      const label = `${event.subvolume}@${event.target}`;
      const prefix = event.dryRun ? 'would drill' : 'drill';
      return [
        event.snapshot === undefined
          ? `${prefix} ${label}: ${event.reason}`
          : `${prefix} ${label}: receive ${event.snapshot} from ${event.target} (${event.host === 'local' ? event.copy : `${event.host}:${event.copy}`}) in full into ${event.scratch}, ${event.compareWith ? `compare every file with ${event.compareWith}` : 'nothing here to compare it with (its snapshot was pruned)'}, delete the scratch copy (${event.reason}${event.relation === 'received-uuid' ? '' : `; ${event.copyReason}`})`,
      ];
    }
    case 'drill':
      if (event.kind === 'restic')
        return [`${event.ok ? 'ok  ' : 'FAIL'} ${event.set}@${event.repository}: drill: ${event.detail}`];
      return [
        `${event.ok ? 'ok  ' : 'FAIL'} ${event.subvolume}@${event.target}: drill: ${event.detail} [${seconds(event.durationMs)}]`,
        ...(event.ok ? [] : [toStderr(`ERROR: ${event.subvolume}@${event.target}: drill: ${event.detail}`)]),
      ];
    case 'drill-skip':
      return [`skip ${event.subvolume}: drill: ${event.reason}`];
    case 'drill-leftover':
      if (event.dryRun) return [`would remove ${event.path} (scratch left by a killed drill)`];
      return event.ok
        ? [`ok   drill: removed ${event.path} (scratch left by a killed drill)`]
        : [toStderr(`WARNING: cannot remove drill scratch ${event.path}: ${event.error ?? ''}`)];
    case 'drill-progress':
      return [
        {
          progress: {
            label: `drill ${event.subvolume}@${event.target}`,
            bytes: event.bytes,
            elapsedMs: event.elapsedMs,
          },
        },
      ];
    case 'summary':
      return event.dryRun ? ['dry run: nothing changed'] : [];
  }
}

export async function runVerify(options: {
  config?: string;
  json: boolean;
  /** Backup sets and subvolumes (one namespace); default all. */
  sets: readonly string[];
  parts: number;
  drill: boolean;
  /** A repository of the sets: check only it, and drill from it. */
  from?: string;
  dryRun?: boolean;
  now?: Date;
}): Promise<number> {
  const output = createOutput(options.json);
  checkParts(options.parts);
  const { resolved } = await loadResolvedConfig(options.config);
  return verify(
    {
      config: resolved,
      names: options.sets,
      parts: options.parts,
      drill: options.drill,
      ...(options.from !== undefined ? { from: options.from } : {}),
      dryRun: options.dryRun ?? false,
      ...(options.now ? { now: options.now } : {}),
    },
    createPrinter(output, verifyText),
  );
}
