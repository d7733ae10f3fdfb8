// `snapkeep retention preview`: read snapshot names on stdin and show which ones a preserve policy
// keeps or deletes, and why — the decisions of btrbk 0.32.5's `btrbk -S prune` for the same names.
// Contract (kept stable for external conformance checks): with --json, one NDJSON object per input
// line, in input order: {"type":"retention","name":…,"action":"keep"|"delete","reason":…}.
import { snapshotBasenamePattern } from '../snapshot-name.js';
import { UsageError } from '../errors.js';
import { parseBtrbkSnapshotName, schedule, type ScheduleEntry } from '../retention/btrbk-schedule.js';
import {
  daysOfWeek,
  formatPreserveMatrix,
  formatPreserveMinimum,
  parsePreserveMatrix,
  parsePreserveMinimum,
  type DayOfWeek,
  type PreservePolicy,
} from '../retention/preserve-policy.js';
import { createOutput, formatTable } from './output.js';
import { createPrinter } from './printer.js';
import type { RetentionEvent } from './retention-events.js';

export interface RetentionPreviewOptions {
  readonly preserve: string;
  readonly preserveMin: string;
  readonly dayOfWeek: string;
  readonly hourOfDay: string;
  readonly now?: string;
  readonly json: boolean;
}

export interface RetentionVerdict {
  readonly name: string;
  readonly action: 'keep' | 'delete';
  readonly reason: string;
}

export const notSnapshotNameReason =
  'not a snapshot name (<name>.<YYYYMMDD[Thhmm[ss±hhmm]]>[_N]); never touched';
export const illegalTimestampReason =
  'illegal timestamp: btrbk ignores this subvolume ("Illegal timestamp"); never touched';

/** Parse and check the policy flags; a bad value is a UsageError naming the flag and what is expected. */
export function parseRetentionPolicy(
  options: Pick<RetentionPreviewOptions, 'preserve' | 'preserveMin' | 'dayOfWeek' | 'hourOfDay'>,
): PreservePolicy {
  const matrix = parsePreserveMatrix(options.preserve);
  if (!matrix.ok) throw new UsageError(`invalid --preserve "${options.preserve}": ${matrix.error}`);
  // btrbk (Perl) treats a count like "00" as true but zero: "00h" keeps the current hour's first
  // snapshot while "0h" keeps none. A policy cannot say that, so refuse it instead of guessing.
  const zeros = options.preserve
    .trim()
    .split(/\s+/)
    .find((term) => /^00+[hdwmy]$/i.test(term));
  if (zeros !== undefined) {
    throw new UsageError(
      `invalid --preserve "${options.preserve}": "${zeros}" is ambiguous (btrbk reads it differently from 0${zeros.slice(-1)}); write 0${zeros.slice(-1)} for none or a positive count`,
    );
  }

  const minimum = parsePreserveMinimum(options.preserveMin);
  if (!minimum.ok) throw new UsageError(`invalid --preserve-min "${options.preserveMin}": ${minimum.error}`);

  const day = options.dayOfWeek.trim().toLowerCase();
  if (!(daysOfWeek as readonly string[]).includes(day)) {
    throw new UsageError(
      `invalid --day-of-week "${options.dayOfWeek}": expected one of ${daysOfWeek.join(', ')}`,
    );
  }

  const hourText = options.hourOfDay.trim();
  const hour = Number(hourText);
  if (!/^[0-9]{1,2}$/.test(hourText) || hour > 23) {
    throw new UsageError(`invalid --hour-of-day "${options.hourOfDay}": expected a whole hour from 0 to 23`);
  }

  return { matrix: matrix.value, minimum: minimum.value, dayOfWeek: day as DayOfWeek, hourOfDay: hour };
}

/** Parse --now (local time YYYY-MM-DDThh:mm:ss); the current time when absent. */
export function parseNow(text: string | undefined, clock: () => Date = () => new Date()): Date {
  if (text === undefined) return clock();
  const match = /^([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})$/.exec(text.trim());
  const fail = (): never => {
    throw new UsageError(
      `invalid --now "${text}": expected a valid local time YYYY-MM-DDThh:mm:ss, e.g. 2024-03-10T12:00:00`,
    );
  };
  if (!match) return fail();
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const date = new Date(2000, 0, 1);
  date.setFullYear(year, month - 1, day);
  date.setHours(hour, minute, second, 0);
  if (
    month < 1 ||
    month > 12 ||
    day < 1 ||
    date.getFullYear() !== year ||
    date.getMonth() !== month - 1 ||
    date.getDate() !== day ||
    hour > 23 ||
    minute > 59 ||
    second > 59
  ) {
    return fail();
  }
  return date;
}

/**
 * The decision for every name, in input order (repeated names get the same decision). Names are
 * scheduled per basename, as btrbk schedules per snapshot_name, with btrbk's prune semantics:
 * names dated in the future are never deleted. Lines that are not snapshot names are kept.
 */
export function previewRetention(
  names: readonly string[],
  policy: PreservePolicy,
  now: Date,
): RetentionVerdict[] {
  const verdicts = new Map<string, RetentionVerdict>();
  const groups = new Map<string, ScheduleEntry<string>[]>();
  for (const name of names) {
    if (verdicts.has(name)) continue;
    const parsed = parseBtrbkSnapshotName(name, now);
    if (
      parsed.kind === 'not-a-snapshot-name' ||
      !snapshotBasenamePattern.test(parsed.kind === 'snapshot' ? parsed.snapshot.basename : parsed.basename)
    ) {
      verdicts.set(name, { name, action: 'keep', reason: notSnapshotNameReason });
      continue;
    }
    if (parsed.kind === 'illegal-timestamp') {
      verdicts.set(name, { name, action: 'keep', reason: illegalTimestampReason });
      continue;
    }
    const { basename, date } = parsed.snapshot;
    // Placeholder so a repeated name is scheduled once; replaced by the decision below.
    verdicts.set(name, { name, action: 'keep', reason: '' });
    let group = groups.get(basename);
    if (!group) groups.set(basename, (group = []));
    group.push({ value: name, date });
  }
  for (const group of groups.values()) {
    for (const decision of schedule(group, policy, now, { preserveFuture: true })) {
      const action = decision.action === 'delete' ? 'delete' : 'keep';
      verdicts.set(decision.value, { name: decision.value, action, reason: decision.reason });
    }
  }
  return names.map((name) => verdicts.get(name)!);
}

/** Split stdin text into names: one per line, surrounding whitespace trimmed, empty lines ignored. */
export function splitNames(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

async function readStandardInput(): Promise<string> {
  if (process.stdin.isTTY) {
    process.stderr.write('snapkeep: reading snapshot names from stdin, one per line (end with Ctrl-D)\n');
  }
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

const pad2 = (value: number): string => String(value).padStart(2, '0');
const formatLocal = (date: Date): string =>
  `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())}T` +
  `${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}`;

/** `snapkeep retention preview`. `input` replaces stdin (tests). Returns the exit code. */
export async function runRetentionPreview(options: RetentionPreviewOptions, input?: string): Promise<number> {
  const policy = parseRetentionPolicy(options);
  const now = parseNow(options.now);
  const names = splitNames(input ?? (await readStandardInput()));
  const verdicts = previewRetention(names, policy, now);

  const output = createOutput(options.json);
  const print = createPrinter<RetentionEvent>(output, () => []);
  for (const verdict of verdicts) print({ type: 'retention', ...verdict });
  if (options.json) return 0;
  output.text(
    `Policy: preserve ${formatPreserveMatrix(policy.matrix)}, minimum ${formatPreserveMinimum(policy.minimum)}; ` +
      `weeks start on ${policy.dayOfWeek}, days at ${pad2(policy.hourOfDay)}:00` +
      (policy.hourOfDay === 0 ? '; ' : ' (date-only names at 00:00); ') +
      `now ${formatLocal(now)} (${Intl.DateTimeFormat().resolvedOptions().timeZone})`,
  );
  output.text('');
  output.text(
    formatTable(
      ['NAME', 'ACTION', 'REASON'],
      verdicts.map((verdict) => [verdict.name, verdict.action, verdict.reason]),
    ),
  );
  const keep = verdicts.filter((verdict) => verdict.action === 'keep').length;
  const untouched = verdicts.filter(
    (verdict) => verdict.reason === notSnapshotNameReason || verdict.reason === illegalTimestampReason,
  ).length;
  output.text('');
  output.text(
    `${keep} keep, ${verdicts.length - keep} delete` +
      (untouched > 0 ? ` (${untouched} of the kept lines are not snapshot names)` : ''),
  );
  return 0;
}
