// What every transfer of the btrfs runs (run, resume, restore, pull) reports: a finished step and
// a transfer's progress. The figures a person and a script read (rate, ETA) are computed here,
// once, so the text line and the `progress` event cannot disagree.
import type { StepOutcome } from '../btrfs/apply-steps.js';
import type { Step } from '../plan/btrfs-plan.js';

/** A finished step (`step`): its outcome, as journaled. */
export interface StepEvent {
  readonly type: 'step';
  readonly ok: boolean;
  readonly error?: string;
  readonly durationMs: number;
  readonly bytes?: number;
  readonly step: Step;
}

export function stepEvent(outcome: StepOutcome): StepEvent {
  return {
    type: 'step',
    ok: outcome.ok,
    error: outcome.error,
    durationMs: outcome.durationMs,
    bytes: outcome.bytes,
    step: outcome.step,
  };
}

/** Bytes per second so far, and the seconds left when the size of a comparable stream is known. */
export interface TransferFigures {
  readonly bytes: number;
  readonly bytesPerSecond: number;
  /** The size of the previous comparable stream, when known. */
  readonly expectedBytes?: number;
  readonly etaSeconds?: number;
}

export function transferFigures(
  bytes: number,
  elapsedMs: number,
  expectedBytes: number | undefined,
): TransferFigures {
  const rate = bytes / Math.max(elapsedMs / 1000, 0.001);
  const eta = expectedBytes && expectedBytes > bytes ? (expectedBytes - bytes) / rate : undefined;
  return {
    bytes,
    bytesPerSecond: Math.round(rate),
    expectedBytes,
    etaSeconds: eta === undefined ? undefined : Math.round(eta),
  };
}
