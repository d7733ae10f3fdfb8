// btrbk-compatible snapshot names (pure): `<name>.YYYYMMDD[Thhmm[ss(Z|±hhmm)]][_N]`.
// Timestamps without an offset are local time (TZ), exactly as btrbk reads them.

export type TimestampFormat = 'short' | 'long' | 'long-iso';

export interface SnapshotDate {
  /** Seconds since the epoch. */
  readonly epochSeconds: number;
  /** The `_N` suffix that disambiguates names within the same timestamp (0 when absent). */
  readonly sequence: number;
  /** False for short (date-only) names: btrbk then ignores preserve_hour_of_day. */
  readonly hasExactTime: boolean;
}

export interface SnapshotName {
  readonly basename: string;
  readonly date: SnapshotDate;
  readonly name: string;
}

const timestampPattern =
  /^(?<basename>.+)\.(?<YYYY>[0-9]{4})(?<MM>[0-9]{2})(?<DD>[0-9]{2})(?:T(?<hh>[0-9]{2})(?<mm>[0-9]{2})(?:(?<ss>[0-9]{2})(?<zz>Z|[+-][0-9]{4}))?)?(?:_(?<NN>[0-9]+))?$/;

/** A name btrbk would accept as a basename (its `safe_file_match` minus the slash). */
export const snapshotBasenamePattern = /^[0-9a-zA-Z_@+\-.]+$/;

// Parsed names, by name: a run parses each of a subvolume's names several times (plan, prune
// re-plan, pointers, copies), and the answer depends only on the name and the time zone (TZ may
// change within a process: tests switch it).
const parsed = new Map<string, SnapshotName | undefined>();
const parsedLimit = 100_000;

/** Parse a snapshot name; undefined if it is not `<basename>.<timestamp>[_N]` or the date is invalid. */
export function parseSnapshotName(name: string): SnapshotName | undefined {
  const key = `${process.env.TZ ?? ''}\u0000${name}`;
  if (parsed.has(key)) return parsed.get(key);
  const result = parseAfresh(name);
  if (parsed.size >= parsedLimit) parsed.clear();
  parsed.set(key, result);
  return result;
}

function parseAfresh(name: string): SnapshotName | undefined {
  const match = timestampPattern.exec(name);
  const groups = match?.groups;
  if (!groups) return undefined;
  const year = Number(groups.YYYY);
  const month = Number(groups.MM) - 1;
  const day = Number(groups.DD);
  const hour = Number(groups.hh ?? 0);
  const minute = Number(groups.mm ?? 0);
  const second = Number(groups.ss ?? 0);
  // Reject what Perl's Time::Local rejects (btrbk then ignores the subvolume): out-of-range fields.
  if (month > 11 || day < 1 || day > daysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  let epochMs: number;
  if (groups.zz !== undefined) {
    epochMs = Date.UTC(year, month, day, hour, minute, second);
    if (groups.zz !== 'Z') {
      const sign = groups.zz.startsWith('-') ? -1 : 1;
      const offsetMinutes = Number(groups.zz.slice(1, 3)) * 60 + Number(groups.zz.slice(3, 5));
      epochMs -= sign * offsetMinutes * 60_000;
    }
  } else {
    epochMs = new Date(year, month, day, hour, minute, second).getTime();
  }
  return {
    basename: groups.basename!,
    name,
    date: {
      epochSeconds: Math.floor(epochMs / 1000),
      sequence: Number(groups.NN ?? 0),
      hasExactTime: groups.hh !== undefined,
    },
  };
}

const monthLengths = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** `month` from 0; the Gregorian calendar's leap years, as Time::Local has them. */
function daysInMonth(year: number, month: number): number {
  if (month !== 1) return monthLengths[month]!;
  return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
}

export function compareSnapshotDates(a: SnapshotDate, b: SnapshotDate): number {
  return a.epochSeconds - b.epochSeconds || a.sequence - b.sequence;
}

const pad = (value: number, width = 2): string => String(value).padStart(width, '0');

/** The timestamp part for `now` in the given format (local time, like btrbk). */
export function formatTimestamp(now: Date, format: TimestampFormat): string {
  const date = `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}`;
  if (format === 'short') return date;
  const time = `${pad(now.getHours())}${pad(now.getMinutes())}`;
  if (format === 'long') return `${date}T${time}`;
  const offset = -now.getTimezoneOffset();
  const sign = offset < 0 ? '-' : '+';
  const absolute = Math.abs(offset);
  return `${date}T${time}${pad(now.getSeconds())}${sign}${pad(Math.floor(absolute / 60))}${pad(absolute % 60)}`;
}

/**
 * The name for a new snapshot: `<basename>.<timestamp>`, or `_N` with N one above the highest
 * sequence already present for that timestamp — btrbk's rule. Pass the names present in the
 * snapshot directory and on every target, so a name is never reused for different data.
 */
export function nextSnapshotName(
  basename: string,
  now: Date,
  format: TimestampFormat,
  existingNames: Iterable<string>,
): string {
  const base = `${basename}.${formatTimestamp(now, format)}`;
  let highest = -1;
  for (const name of existingNames) {
    if (name === base) highest = Math.max(highest, 0);
    else if (name.startsWith(`${base}_`) && /^[0-9]+$/.test(name.slice(base.length + 1))) {
      highest = Math.max(highest, Number(name.slice(base.length + 1)));
    }
  }
  const sequence = highest + 1;
  return sequence === 0 ? base : `${base}_${sequence}`;
}
