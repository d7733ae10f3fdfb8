// Output conventions (DESIGN.md "Output"): human text by default; with --json, NDJSON on stdout —
// one object per line with a `type` field and nothing else. Diagnostics go to stderr either way.
//
// The --json contract (README "Scripting with --json") is kept here, once, for every command:
// program.ts opens a JSON run when the command parsed with --json and closes it with the exit
// code (and the error, when the command failed), which writes an `error` event and then the one
// `summary` event, always last. A command module's own `summary` event is not written when it is
// emitted: its fields (dryRun, counts, the run id) join the program's summary, so no module can
// forget the summary or write a second one. Nothing is written after it.
import { maskSecrets } from '../exec/command.js';
import { ExitCode } from '../errors.js';

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

/** Version of the event catalogue (README); raised when a field changes meaning or goes away. */
export const eventsVersion = 1;

/** What the exit codes (errors.ts) mean, as the summary's `outcome` and the error's `code`. */
const outcomes: Readonly<Record<number, string>> = {
  [ExitCode.ok]: 'ok',
  [ExitCode.fatal]: 'fatal',
  [ExitCode.usage]: 'usage',
  [ExitCode.partial]: 'partial',
  [ExitCode.targetUnreachable]: 'unreachable',
  [ExitCode.locked]: 'locked',
  [ExitCode.interrupted]: 'interrupted',
};

export function outcomeOf(exitCode: number): string {
  return outcomes[exitCode] ?? 'fatal';
}

interface JsonRun {
  /** The command's words: `remote verify`. */
  readonly command: string;
  /** What the command module's own `summary` events said, merged. */
  summary: Record<string, unknown>;
  /** `check` events by status, for the summary. */
  readonly checks: Record<CheckStatus, number>;
  closed: boolean;
}

let jsonRun: JsonRun | undefined;

function writeEvent(type: string, fields: Record<string, unknown>): void {
  process.stdout.write(`${maskSecrets(JSON.stringify({ type, ...fields }))}\n`);
}

/** The command `command` runs with --json: its summary is written by endJsonRun. */
export function beginJsonRun(command: string): void {
  jsonRun = { command, summary: {}, checks: { ok: 0, warn: 0, fail: 0, skip: 0 }, closed: false };
}

export function inJsonRun(): boolean {
  return jsonRun !== undefined;
}

/**
 * The end of a --json command: the `error` event when it failed (`code` is the exit code's name,
 * `message` the one stderr also shows), then the `summary`. Once; later events are dropped.
 */
export function endJsonRun(exitCode: number, error?: { readonly message: string }): void {
  if (!jsonRun || jsonRun.closed) return;
  jsonRun.closed = true;
  if (error) writeEvent('error', { code: outcomeOf(exitCode), exitCode, message: error.message });
  writeEvent('summary', {
    ...jsonRun.summary,
    v: eventsVersion,
    command: jsonRun.command,
    exitCode,
    outcome: outcomeOf(exitCode),
    ...(Object.values(jsonRun.checks).some((count) => count > 0) ? { checks: { ...jsonRun.checks } } : {}),
  });
}

/** One status for every check result (doctor, verify, remote verify, repo check-permissions). */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';
const checkStatuses: readonly string[] = ['ok', 'warn', 'fail', 'skip'] satisfies CheckStatus[];

/**
 * A `check` event in the one shape: `status` is ok, warn, fail or skip. Doctor's results carry
 * their text word (`OK`, `FAIL`), the engines' a boolean `ok`; both become `status` here, where
 * every event is written, so no command can print another shape.
 */
export function checkEventFields(fields: Record<string, unknown>): Record<string, unknown> {
  const { ok, status, ...rest } = fields;
  const word = typeof status === 'string' ? status.toLowerCase() : ok === true ? 'ok' : 'fail';
  if (!checkStatuses.includes(word)) throw new Error(`check event with status ${JSON.stringify(status)}`);
  return { status: word, ...rest };
}

export function createOutput(json: boolean): Output {
  return {
    json,
    text(line) {
      if (!json && !quiet) process.stdout.write(`${maskSecrets(line)}\n`);
    },
    event(type, fields) {
      if (!json || jsonRun?.closed) return;
      if (type === 'summary' && jsonRun) {
        jsonRun.summary = { ...jsonRun.summary, ...fields };
      } else if (type === 'check') {
        const check = checkEventFields(fields);
        if (jsonRun) jsonRun.checks[check.status as CheckStatus]++;
        writeEvent(type, check);
      } else {
        writeEvent(type, fields);
      }
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
