// `snapkeep diff SUBVOLUME [FROM] [TO]`: what changed between two local snapshots, one line per
// change (A added, D deleted, M modified, R renamed, a attributes), then the counts. --json: one
// `change` event per change and a `summary`. The reading is src/btrfs/snapshot-diff.ts.
import { loadResolvedConfig } from '../config/config-cache.js';
import { selectSubvolumes } from '../btrfs/btrfs-run.js';
import { describeChange, diffSnapshots, type Change, type DiffResult } from '../btrfs/snapshot-diff.js';
import { ExitCode, UsageError } from '../errors.js';
import { createOutput } from './output.js';
import { createPrinter, type TextLine } from './printer.js';

export interface DiffOptions {
  readonly config?: string;
  readonly json: boolean;
  readonly subvolume: string;
  readonly from?: string;
  readonly to?: string;
}

export type DiffEvent =
  | ({ readonly type: 'change' } & Change)
  | {
      readonly type: 'summary';
      readonly command: 'diff';
      readonly subvolume: string;
      readonly from: string;
      readonly to: string;
      readonly counts: DiffResult['counts'];
      readonly exitCode: number;
    };

export function diffText(event: DiffEvent): readonly TextLine[] {
  if (event.type === 'change') {
    const { type: _type, ...change } = event;
    return [describeChange(change)];
  }
  const counts = Object.entries(event.counts)
    .filter(([, count]) => count > 0)
    .map(([kind, count]) => `${count} ${kind}`);
  return [`${event.from} → ${event.to}: ${counts.length > 0 ? counts.join(', ') : 'no changes'}`];
}

export async function runDiff(options: DiffOptions): Promise<number> {
  const { resolved } = await loadResolvedConfig(options.config);
  const [subvolume] = selectSubvolumes(resolved, [options.subvolume]);
  if (subvolume!.ssh)
    throw new UsageError(
      `${subvolume!.name} lives on ${subvolume!.ssh.location.host} (pull mode): compare its snapshots there`,
    );
  const print = createPrinter<DiffEvent>(createOutput(options.json), diffText);
  const diff = await diffSnapshots({
    subvolume: subvolume!,
    ...(options.from !== undefined ? { from: options.from } : {}),
    ...(options.to !== undefined ? { to: options.to } : {}),
  });
  for (const change of diff.changes) print({ type: 'change', ...change });
  print({
    type: 'summary',
    command: 'diff',
    subvolume: diff.subvolume,
    from: diff.from,
    to: diff.to,
    counts: diff.counts,
    exitCode: ExitCode.ok,
  });
  return ExitCode.ok;
}
