// Planning a btrfs restore drill (pure): which subvolume × target pair this run drills, and which
// of that target's copies. One pair per run keeps a nightly verify short; taking the pair drilled
// longest ago (never drilled first) drills every pair within N runs for N pairs, also when pairs
// come and go. An attempt counts, failed or not: one broken target must not starve the others
// (its failure is the run's outcome and stays in the journal until it passes).
import type { DatedSubvolume } from '../btrfs/inventory.js';
import { compareSnapshotDates } from '../snapshot-name.js';
import { isCopyOf } from './btrfs-plan.js';

export interface DrillPair {
  readonly subvolume: string;
  readonly target: string;
}

/** What the state directory remembers per pair (drill.json). */
export interface DrillRecord {
  readonly lastDrilledAt: string;
  readonly ok: boolean;
  readonly snapshot?: string;
}

/** subvolume → target → record. */
export type DrillRotation = Readonly<Record<string, Readonly<Record<string, DrillRecord>>>>;

export interface PairChoice {
  readonly pair: DrillPair;
  readonly reason: string;
}

const pairsOf = (count: number): string => `${count} ${count === 1 ? 'pair' : 'pairs'}`;

/** The pair to drill now: one never drilled (in config order), else the one drilled longest ago. */
export function choosePair(pairs: readonly DrillPair[], rotation: DrillRotation): PairChoice | undefined {
  let chosen: { pair: DrillPair; at: number } | undefined;
  for (const pair of pairs) {
    const record = rotation[pair.subvolume]?.[pair.target];
    if (!record) return { pair, reason: `never drilled (${pairsOf(pairs.length)}, one each run)` };
    const at = Date.parse(record.lastDrilledAt);
    const when = Number.isNaN(at) ? 0 : at;
    if (!chosen || when < chosen.at) chosen = { pair, at: when };
  }
  if (!chosen) return undefined;
  const record = rotation[chosen.pair.subvolume]![chosen.pair.target]!;
  return {
    pair: chosen.pair,
    reason: `drilled longest ago of ${pairsOf(pairs.length)} (last ${record.lastDrilledAt}, ${record.ok ? 'ok' : 'failed'})`,
  };
}

/** The rotation after drilling `pair` (the other pairs' records as they were). */
export function recordDrill(rotation: DrillRotation, pair: DrillPair, record: DrillRecord): DrillRotation {
  return { ...rotation, [pair.subvolume]: { ...rotation[pair.subvolume], [pair.target]: record } };
}

/** How a target's copy relates to the local snapshot it is compared with. */
export type Counterpart =
  | { readonly kind: 'received-uuid'; readonly local: DatedSubvolume }
  | { readonly kind: 'name'; readonly local: DatedSubvolume }
  | { readonly kind: 'none' };

export interface CopyChoice {
  readonly copy: DatedSubvolume;
  readonly counterpart: Counterpart;
  readonly reason: string;
}

const newestFirst = (a: DatedSubvolume, b: DatedSubvolume): number => compareSnapshotDates(b.date, a.date);

/**
 * The copy to drill: the newest on the target whose local snapshot is still here (by the
 * received-UUID relation, else by name: a copy once made writable has lost its received UUID but
 * is still compared), so every file can be compared; when the local snapshots of all of them are
 * pruned, the newest copy, which can only be received whole (see drill.ts for what that proves).
 * `candidates`: the target's read-only subvolumes named like the subvolume's snapshots.
 */
export function chooseCopy(
  candidates: readonly DatedSubvolume[],
  local: readonly DatedSubvolume[],
): CopyChoice | undefined {
  const sorted = [...candidates].sort(newestFirst);
  for (const copy of sorted) {
    const related = copy.receivedUuid === undefined ? undefined : local.find((each) => isCopyOf(copy, each));
    if (related)
      return {
        copy,
        counterpart: { kind: 'received-uuid', local: related },
        reason: `the newest copy whose snapshot is still here (${related.path})`,
      };
    const named = local.find((each) => each.name === copy.name);
    if (named)
      return {
        copy,
        counterpart: { kind: 'name', local: named },
        reason: `the newest copy whose snapshot is still here (${named.path}, same name${copy.receivedUuid === undefined ? '; the copy has no received UUID: it was made writable at some time' : '; not received from it'})`,
      };
  }
  const [newest] = sorted;
  if (!newest) return undefined;
  return {
    copy: newest,
    counterpart: { kind: 'none' },
    reason: 'the newest copy; no copy on the target has its snapshot here any more (pruned locally)',
  };
}
