// One typed event, rendered two ways (DESIGN.md "Output"). An engine reports through a sink
// `(event) => void` of the discriminated union it exports; a command builds its printer from one
// function that turns an event into text lines. The JSON side is generic: under --json every
// event is one NDJSON line `{type, ...fields}` (output.ts masks it) and the text lines are
// dropped. Lines for stderr (warnings, errors) are written either way, also under --quiet; a
// progress line is shown only on a TTY and erased before the next output.
import type { Output } from './output.js';
import { createProgressLine, type TransferProgress } from './progress.js';

/** What every engine event has: the discriminant, which is also its NDJSON `type`. */
export interface TypedEvent {
  readonly type: string;
}

/** A line for stderr. */
export interface StderrLine {
  readonly stderr: string;
}

/** A transfer's progress on the TTY's one rewritten line (the event itself is the JSON). */
export interface ProgressText {
  readonly progress: Omit<TransferProgress, 'fields'>;
}

export type TextLine = string | StderrLine | ProgressText;

/** An event's text: none, or lines for stdout, stderr and the progress line, in order. */
export type TextRenderer<Event extends TypedEvent> = (event: Event) => readonly TextLine[];

export const toStderr = (line: string): StderrLine => ({ stderr: line });

export type Sink<Event extends TypedEvent> = (event: Event) => void;

/** The sink a command hands its engine: JSON or text, from `render`. */
export function createPrinter<Event extends TypedEvent>(
  output: Output,
  render: TextRenderer<Event>,
): Sink<Event> {
  const progressLine = createProgressLine(output, { events: false });
  return (event) => {
    const { type, ...fields } = event;
    const lines = render(event);
    if (!lines.some((line) => typeof line === 'object' && 'progress' in line)) progressLine.finishAll();
    output.event(type, fields);
    for (const line of lines) {
      if (typeof line === 'string') output.text(line);
      else if ('stderr' in line) output.warn(line.stderr);
      else progressLine.show({ ...line.progress, fields: {} });
    }
  };
}
