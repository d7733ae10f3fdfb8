// One typed event, rendered two ways (DESIGN.md "Output"). An engine reports through a sink
// `(event) => void` of the discriminated union it exports; a command builds its printer from one
// function that turns an event into text lines. The JSON side is generic: under --json every
// event is one NDJSON line `{type, ...fields}` (output.ts masks it) and the text lines are
// dropped. Lines for stderr (warnings, errors) are written either way, also under --quiet; a
// progress line is shown only on a TTY and erased before the next output. Transfers that run in
// parallel (`parallelTransfers`) keep their lines until each one's end says so (ProgressEnd).
import type { Output } from './output.js';
import { createProgressLine, type TransferLine, type TransferProgress } from './progress.js';

/** What every engine event has: the discriminant, which is also its NDJSON `type`. */
export interface TypedEvent {
  readonly type: string;
}

/** A line for stderr. */
export interface StderrLine {
  readonly stderr: string;
}

/** A transfer's progress on the TTY's rewritten line (the event itself is the JSON). */
export interface ProgressText {
  readonly progress: TransferProgress | TransferLine;
}

/** The transfer shown with this label ended: its progress line goes. */
export interface ProgressEnd {
  readonly progressEnd: string;
}

export type TextLine = string | StderrLine | ProgressText | ProgressEnd;

/** An event's text: none, or lines for stdout, stderr and the progress line, in order. */
export type TextRenderer<Event extends TypedEvent> = (event: Event) => readonly TextLine[];

export const toStderr = (line: string): StderrLine => ({ stderr: line });

export type Sink<Event extends TypedEvent> = (event: Event) => void;

/**
 * The sink a command hands its engine: JSON or text, from `render`. By default every event
 * without a progress line ends the transfers shown (one runs at a time); with
 * `parallelTransfers` it only erases them (they are drawn again with their next progress), and
 * a transfer's line goes with its ProgressEnd.
 */
export function createPrinter<Event extends TypedEvent>(
  output: Output,
  render: TextRenderer<Event>,
  options: { readonly parallelTransfers?: boolean } = {},
): Sink<Event> {
  const progressLine = createProgressLine(output);
  return (event) => {
    const { type, ...fields } = event;
    const lines = render(event);
    for (const line of lines)
      if (typeof line === 'object' && 'progressEnd' in line) progressLine.finish(line.progressEnd);
    if (!lines.some((line) => typeof line === 'object' && 'progress' in line)) {
      if (options.parallelTransfers) progressLine.clear();
      else progressLine.finishAll();
    }
    output.event(type, fields);
    for (const line of lines) {
      if (typeof line === 'string') output.text(line);
      else if ('stderr' in line) output.warn(line.stderr);
      else if ('progress' in line) {
        if ('elapsedMs' in line.progress) progressLine.show(line.progress);
        else progressLine.showFigures(line.progress);
      }
    }
  };
}
