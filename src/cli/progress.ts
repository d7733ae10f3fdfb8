// Transfer progress for people and scripts: on a TTY one rewritten stderr line with bytes, rate and
// an ETA estimated from the previous stream of the same kind; under --json `progress` events.
import type { StepOutcome } from '../btrfs/apply-steps.js';
import { isQuiet, type Output } from './output.js';

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 60) return `${Math.round(seconds)}s`;
  return `${Math.floor(seconds / 60)}m${String(Math.round(seconds % 60)).padStart(2, '0')}s`;
}

export interface TransferProgress {
  /** What moves where, for the line and the event (e.g. subvolume, target, name). */
  readonly fields: Record<string, string>;
  readonly label: string;
  readonly bytes: number;
  readonly elapsedMs: number;
  /** The size of the previous comparable stream, when known. */
  readonly expectedBytes?: number;
}

export interface ProgressLine {
  show(progress: TransferProgress): void;
  /** Erase the line before other output. */
  clear(): void;
}

/** `events: false`: only the TTY line (the caller's printer writes the event as it is). */
export function createProgressLine(
  output: Output,
  options: { readonly events?: boolean } = {},
): ProgressLine {
  const isTty = process.stderr.isTTY && !output.json && !isQuiet();
  let shown = false;
  return {
    show(progress) {
      const rate = progress.bytes / Math.max(progress.elapsedMs / 1000, 0.001);
      const expected = progress.expectedBytes;
      const eta = expected && expected > progress.bytes ? (expected - progress.bytes) / rate : undefined;
      if (options.events !== false)
        output.event('progress', {
          ...progress.fields,
          bytes: progress.bytes,
          bytesPerSecond: Math.round(rate),
          expectedBytes: expected,
          etaSeconds: eta === undefined ? undefined : Math.round(eta),
        });
      if (!isTty) return;
      shown = true;
      process.stderr.write(
        `\r\x1b[K${progress.label}: ${formatBytes(progress.bytes)} at ${formatBytes(rate)}/s${
          eta === undefined ? '' : `, ETA ${formatDuration(eta)}`
        }`,
      );
    },
    clear() {
      if (shown) process.stderr.write('\r\x1b[K');
      shown = false;
    },
  };
}

/** A finished step: the `step` event, and one line `ok  |FAIL <description> [time, size]`. */
export function reportStepOutcome(output: Output, outcome: StepOutcome, description: string): void {
  output.event('step', {
    ok: outcome.ok,
    error: outcome.error,
    durationMs: outcome.durationMs,
    bytes: outcome.bytes,
    step: outcome.step,
  });
  const size = outcome.bytes ? `, ${formatBytes(outcome.bytes)}` : '';
  output.text(
    `${outcome.ok ? 'ok  ' : 'FAIL'} ${description} [${(outcome.durationMs / 1000).toFixed(2)}s${size}]`,
  );
  if (!outcome.ok && outcome.error) output.warn(`ERROR: ${outcome.error}`);
}
