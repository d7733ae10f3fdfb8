// Transfer progress for people: on a TTY a stderr line per running transfer with bytes, rate and
// an ETA estimated from the previous stream of the same kind (under --json the engines' `progress`
// events say it; printer.ts writes them). And the one line of a finished step.
import { transferFigures, type StepEvent, type TransferFigures } from '../replication/transfer-events.js';
import { isQuiet, type Output } from './output.js';
import type { TextLine } from './printer.js';

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
  readonly label: string;
  readonly bytes: number;
  readonly elapsedMs: number;
  /** The size of the previous comparable stream, when known. */
  readonly expectedBytes?: number;
}

/** A transfer's line from figures already computed (an engine's `progress` event). */
export interface TransferLine extends TransferFigures {
  readonly label: string;
}

export interface ProgressLine {
  show(progress: TransferProgress): void;
  showFigures(line: TransferLine): void;
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
  options: { readonly terminal?: ProgressTerminal } = {},
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
  const showFigures = (line: TransferLine): void => {
    if (!isTty) return;
    lines.set(
      line.label,
      `${line.label}: ${formatBytes(line.bytes)} at ${formatBytes(line.bytesPerSecond)}/s${
        line.etaSeconds === undefined ? '' : `, ETA ${formatDuration(line.etaSeconds)}`
      }`,
    );
    erase();
    draw();
  };
  return {
    show(progress) {
      showFigures({
        label: progress.label,
        ...transferFigures(progress.bytes, progress.elapsedMs, progress.expectedBytes),
      });
    },
    showFigures,
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

/** A finished step's line, `ok  |FAIL <description> [time, size]`, and its error on stderr. */
export function stepOutcomeText(event: StepEvent, description: string): TextLine[] {
  const size = event.bytes ? `, ${formatBytes(event.bytes)}` : '';
  return [
    `${event.ok ? 'ok  ' : 'FAIL'} ${description} [${(event.durationMs / 1000).toFixed(2)}s${size}]`,
    ...(!event.ok && event.error ? [{ stderr: `ERROR: ${event.error}` }] : []),
  ];
}
