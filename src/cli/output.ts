// Output conventions (DESIGN.md "Output"): human text by default; with --json, NDJSON on stdout —
// one object per line with a `type` field and nothing else. Diagnostics go to stderr either way.
import { maskSecrets } from '../exec/command.js';

export interface Output {
  readonly json: boolean;
  /** A human line on stdout (suppressed under --json). */
  text(line: string): void;
  /** A machine event on stdout (only under --json). */
  event(type: string, fields: Record<string, unknown>): void;
  /** A warning or error on stderr (always, masked). */
  warn(line: string): void;
}

let quiet = false;

/** --quiet (for cron): no human text on stdout; warnings, errors and --json events stay. */
export function setQuiet(value: boolean): void {
  quiet = value;
}

export function isQuiet(): boolean {
  return quiet;
}

export function createOutput(json: boolean): Output {
  return {
    json,
    text(line) {
      if (!json && !quiet) process.stdout.write(`${maskSecrets(line)}\n`);
    },
    event(type, fields) {
      if (json) process.stdout.write(`${maskSecrets(JSON.stringify({ type, ...fields }))}\n`);
    },
    warn(line) {
      process.stderr.write(`${maskSecrets(line)}\n`);
    },
  };
}

/** Render rows as an aligned text table. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((cell, column) =>
    Math.max(cell.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (row: readonly string[]): string =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}

/** A snapshot's date as local `YYYY-MM-DD hh:mm` (snapshot names are local time, like btrbk's). */
export function formatSnapshotDate(date: { readonly epochSeconds: number }): string {
  const local = new Date(date.epochSeconds * 1000);
  const pad = (value: number): string => String(value).padStart(2, '0');
  return `${local.getFullYear()}-${pad(local.getMonth() + 1)}-${pad(local.getDate())} ${pad(local.getHours())}:${pad(local.getMinutes())}`;
}
