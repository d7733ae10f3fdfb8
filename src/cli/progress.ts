// Transfer progress for people and scripts: on a TTY a stderr line per running transfer with bytes,
// rate and an ETA estimated from the previous stream of the same kind; under --json `progress` events.
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
  /** Erase the lines before other output (the next show draws them again). */
  clear(): void;
  /** The transfer with this label ended: its line is not drawn again. */
  finish(label: string): void;
  /** Every transfer shown ended (one at a time, as in a printer's sequence of events). */
  finishAll(): void;
}

/** Where the lines are drawn: stderr, or a stand-in terminal in tests. */
export interface ProgressTerminal {
  readonly isTTY?: boolean;
  readonly columns?: number;
  write(text: string): unknown;
}

/**
 * On a terminal, one line per running transfer (parallel transfers each keep theirs), redrawn in
 * place: erase the block (cursor up), write every line again. Each line is cut to the terminal's
 * width, since a wrapped line would break the cursor arithmetic. Written here rather than taken
 * from a library: the libraries that do this pull a dozen packages for these few escapes.
 */
export function createProgressLine(
  output: Output,
  options: {
    /** false: only the TTY lines (the caller's printer writes the event as it is). */
    readonly events?: boolean;
    readonly terminal?: ProgressTerminal;
  } = {},
): ProgressLine {
  const terminal = options.terminal ?? process.stderr;
  const isTty = Boolean(terminal.isTTY) && !output.json && !isQuiet();
  const lines = new Map<string, string>();
  let drawn = 0;
  const erase = (): void => {
    if (drawn === 0) return;
    terminal.write(`\r\x1b[K${'\x1b[1A\x1b[K'.repeat(drawn - 1)}`);
    drawn = 0;
  };
  const draw = (): void => {
    // A pty nobody sized (script(1) without a terminal, some CI runners) says 0 columns.
    const columns = terminal.columns || Number(process.env.COLUMNS) || 80;
    const width = Math.max(columns - 1, 20);
    const text = [...lines.values()].map((line) =>
      line.length > width ? `${line.slice(0, width - 1)}…` : line,
    );
    terminal.write(text.join('\n'));
    drawn = text.length;
  };
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
      lines.set(
        progress.label,
        `${progress.label}: ${formatBytes(progress.bytes)} at ${formatBytes(rate)}/s${
          eta === undefined ? '' : `, ETA ${formatDuration(eta)}`
        }`,
      );
      erase();
      draw();
    },
    clear() {
      erase();
    },
    finish(label) {
      lines.delete(label);
      erase();
    },
    finishAll() {
      lines.clear();
      erase();
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
