// btrbk 0.32.5's schedule() (pure): which entries a preserve policy keeps, with btrbk's reasons
// (one difference: "1 day ago" where btrbk writes "1 days ago"; see ago()).
// See FACTS.md §1. Decisions must equal `btrbk -S` for every input (tested against btrbk itself).
//
// This is a line-by-line port of `sub schedule` (btrbk 0.32.5, ~line 4603) including the parts of
// Perl's Time::Local 1.30 it relies on: btrbk computes hour distances with `timegm_nocheck` on
// local wall-clock fields (so DST shifts are ignored), and Time::Local "munges" years (a year
// value 0..99 is a two-digit year in a rolling century around the current year; ≥ 1000 is a
// four-digit year). Both quirks are reproduced so that decisions equal btrbk's for every date.
import type { SnapshotDate, SnapshotName } from '../snapshot-name.js';
import { daysOfWeek, type PreservePolicy, type PreserveUnit } from './preserve-policy.js';

export interface ScheduleEntry<T> {
  readonly value: T;
  readonly date: SnapshotDate;
  /** Present entries that take part in bucket selection but are never kept or deleted
   *  (btrbk's informative_only: existing target copies when deciding what to send). */
  readonly informativeOnly?: boolean;
  /** A reason that forces keeping this entry (e.g. "latest common snapshot"). */
  readonly forcePreserve?: string;
}

export interface ScheduleDecision<T> {
  readonly value: T;
  readonly date: SnapshotDate;
  readonly action: 'keep' | 'delete' | 'informative';
  /** The last rule that matched (btrbk's text), or a note why nothing matched. */
  readonly reason: string;
}

export interface ScheduleOptions {
  /** btrbk's preserve_date_in_future: never delete entries dated after now (used when pruning). */
  readonly preserveFuture?: boolean;
}

/** Reason of a deleted entry (btrbk prints "-": no rule matched). */
export const noRuleMatchedReason = 'no preserve rule matched';
/** Reason of an informative entry no rule matched (btrbk prints "-"). */
export const informativeOnlyReason = 'informative only (no preserve rule matched)';

// ---------------------------------------------------------------------------------------------
// Perl emulation: localtime() and Time::Local 1.30 (timegm, timegm_nocheck, timelocal).
// Years are "years since 1900" and months 0..11, as in Perl's struct tm.

interface Tm {
  readonly sec: number;
  readonly min: number;
  readonly hour: number;
  readonly mday: number;
  readonly mon: number;
  readonly year: number;
  readonly wday: number;
}

/** Perl's localtime($epoch) (local time zone from TZ, like Perl). */
function localtime(epochSeconds: number): Tm {
  const date = new Date(epochSeconds * 1000);
  return {
    sec: date.getSeconds(),
    min: date.getMinutes(),
    hour: date.getHours(),
    mday: date.getDate(),
    mon: date.getMonth(),
    year: date.getFullYear() - 1900,
    wday: date.getDay(),
  };
}

/** Time::Local's _daygm, literally (days since the epoch; Perl int() truncates toward zero). */
function daygmRaw(mday: number, mon: number, year: number): number {
  const month = (((mon + 10) % 12) + 12) % 12;
  const fullYear = year + 1900 - Math.trunc(month / 10);
  return (
    mday +
    (365 * fullYear +
      Math.trunc(fullYear / 4) -
      Math.trunc(fullYear / 100) +
      Math.trunc(fullYear / 400) +
      Math.trunc((month * 306 + 5) / 10))
  );
}
const epochDay = daygmRaw(1, 0, 70);

/** Time::Local's _timegm: fields as UTC, no year munging, no checks. */
function timegmRaw(sec: number, min: number, hour: number, mday: number, mon: number, year: number): number {
  return sec + 60 * min + 3600 * hour + 86_400 * (daygmRaw(mday, mon, year) - epochDay);
}

/** Time::Local's year munging; `thisYear` is the current local year (years since 1900). */
function mungeYear(year: number, thisYear: number): number {
  if (year >= 1000) return year - 1900;
  if (year >= 0 && year < 100) {
    const breakpoint = (thisYear + 50) % 100;
    let nextCentury = thisYear - (thisYear % 100);
    if (breakpoint < 50) nextCentury += 100;
    const century = nextCentury - 100;
    return year + (year > breakpoint ? century : nextCentury);
  }
  return year;
}

const monthDays = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;
const isLeapYear = (year: number): boolean =>
  year % 4 !== 0 ? false : year % 100 !== 0 ? true : year % 400 === 0;

/** Time::Local's timegm (with range checks); undefined where Perl croaks. */
function timegm(
  sec: number,
  min: number,
  hour: number,
  mday: number,
  mon: number,
  year: number,
  thisYear: number,
): number | undefined {
  const munged = mungeYear(year, thisYear);
  if (mon > 11 || mon < 0) return undefined;
  const days = monthDays[mon]! + (mon === 1 && isLeapYear(munged + 1900) ? 1 : 0);
  if (mday > days || mday < 1 || hour > 23 || hour < 0 || min > 59 || min < 0 || sec >= 60 || sec < 0) {
    return undefined;
  }
  return timegmRaw(sec, min, hour, mday, mon, munged);
}

/** Time::Local's timegm_nocheck: year munging, no range checks. */
function timegmNocheck(hour: number, mday: number, mon: number, year: number, thisYear: number): number {
  return timegmRaw(0, 0, hour, mday, mon, mungeYear(year, thisYear));
}

/** Local wall-clock fields of `t`, read as UTC (Time::Local's `_timegm(localtime($t))`). */
function wallClockAsUtc(t: number): number {
  const tm = localtime(t);
  return timegmRaw(tm.sec, tm.min, tm.hour, tm.mday, tm.mon, tm.year);
}

/** Time::Local's timelocal, literally (including its choices in DST gaps and overlaps). */
function timelocal(
  sec: number,
  min: number,
  hour: number,
  mday: number,
  mon: number,
  year: number,
  thisYear: number,
): number | undefined {
  const refT = timegm(sec, min, hour, mday, mon, year, thisYear);
  if (refT === undefined) return undefined;
  const locForRefT = wallClockAsUtc(refT);
  const zoneOff = locForRefT - refT;
  if (zoneOff === 0) return locForRefT;
  let locT = refT - zoneOff;
  const dstOff = refT - wallClockAsUtc(locT);
  if (dstOff === 0 && refT - 3600 - wallClockAsUtc(locT - 3600) < 0) return locT - 3600;
  locT += dstOff;
  if (dstOff > 0) return locT;
  const check = localtime(locT);
  if (check.sec !== sec || check.min !== min || check.hour !== hour) locT -= dstOff;
  return locT;
}

/** btrbk's `^(?<name>.+)\.$btrbk_timestamp_match$` (the same grammar as parseSnapshotName's). */
const btrbkNamePattern =
  /^(?<basename>.+)\.(?<YYYY>[0-9]{4})(?<MM>[0-9]{2})(?<DD>[0-9]{2})(?:T(?<hh>[0-9]{2})(?<mm>[0-9]{2})(?:(?<ss>[0-9]{2})(?<zz>Z|[+-][0-9]{4}))?)?(?:_(?<NN>[0-9]+))?$/;

export type BtrbkNameResult =
  | { readonly kind: 'snapshot'; readonly snapshot: SnapshotName }
  | { readonly kind: 'illegal-timestamp'; readonly basename: string }
  | { readonly kind: 'not-a-snapshot-name' };

type TimeUnit = 'hour' | 'day' | 'week' | 'month' | 'year';

/** "1 day ago", "3 days ago". btrbk writes "1 days ago"; the oracle test reads its text so too. */
function ago(count: number, unit: TimeUnit): string {
  return `${count} ${unit}${count === 1 ? '' : 's'} ago`;
}

/**
 * A snapshot name read exactly as btrbk 0.32.5 reads it (`add_btrbk_filename_info` and
 * `_get_btrbk_date`); `now` stands for the time btrbk runs at. The date equals
 * parseSnapshotName's except where Perl's Time::Local differs from calendar arithmetic: years
 * 1900–1999 are two-digit years in a rolling century around now (in 2024, 1970 means 2070 but
 * 1975 means 1975), years from 2900 lose 1900 years (2950 means 1050), 19000229 is accepted as
 * 2000-02-29, and some DST overlaps (e.g. Australia/Lord_Howe) resolve to the other instant.
 * "illegal-timestamp": the name has the shape but btrbk ignores it (e.g. 20240230).
 */
export function parseBtrbkSnapshotName(name: string, now: Date): BtrbkNameResult {
  const groups = btrbkNamePattern.exec(name)?.groups;
  if (!groups) return { kind: 'not-a-snapshot-name' };
  const basename = groups.basename!;
  const thisYear = now.getFullYear() - 1900;
  const fields = [
    Number(groups.ss ?? 0),
    Number(groups.mm ?? 0),
    Number(groups.hh ?? 0),
    Number(groups.DD),
    Number(groups.MM) - 1,
    Number(groups.YYYY) - 1900,
  ] as const;
  let time: number | undefined;
  if (groups.zz !== undefined) {
    time = timegm(...fields, thisYear);
    if (time !== undefined && groups.zz !== 'Z') {
      let offset = Number(groups.zz.slice(3, 5)) * 60 + Number(groups.zz.slice(1, 3)) * 3600;
      if (groups.zz.startsWith('-')) offset = -offset;
      time -= offset;
    }
  } else {
    time = timelocal(...fields, thisYear);
  }
  if (time === undefined) return { kind: 'illegal-timestamp', basename };
  const date: SnapshotDate = {
    epochSeconds: time,
    sequence: Number(groups.NN ?? 0),
    hasExactTime: groups.hh !== undefined,
  };
  return { kind: 'snapshot', snapshot: { basename, name, date } };
}

// ---------------------------------------------------------------------------------------------
// schedule()

interface Work<T> {
  readonly entry: ScheduleEntry<T>;
  readonly deltaHours: number;
  readonly deltaDays: number;
  readonly deltaWeeks: number;
  readonly deltaMonths: number;
  readonly deltaYears: number;
  readonly year: number;
  readonly month: number;
  readonly deltaHoursFromHod: number;
  readonly deltaDaysFromEow: number;
  /** preserve_hour_of_day, only for entries with an exact time (btrbk's real_hod). */
  readonly realHod: number | undefined;
  preserve: string | undefined;
}

const pad2 = (value: number): string => String(value).padStart(2, '0');

/** btrbk's cmp_date: by time, then by the `_N` sequence. */
function compareDates(a: SnapshotDate, b: SnapshotDate): number {
  return a.epochSeconds - b.epochSeconds || a.sequence - b.sequence;
}

/** btrbk's _format_preserve_delta. */
function formatPreserveDelta(work: Work<unknown>, dayOfWeek: string): string {
  let s = '';
  if (work.deltaDaysFromEow) s += ` ${work.deltaDaysFromEow}d`;
  if (work.deltaHoursFromHod) s += ` ${work.deltaHoursFromHod}h`;
  return (
    (s ? `${s} after ` : ' at ') + dayOfWeek + (work.realHod !== undefined ? ` ${pad2(work.realHod)}:00` : '')
  );
}

/** Whether a matrix count selects an entry `delta` units ago (btrbk: 0 or absent means none). */
function selects(count: number | 'all' | undefined, delta: number): boolean {
  if (count === undefined || count === 0) return false;
  return count === 'all' || delta <= count;
}

/** The first entry (oldest) of each key, iterated from the largest key (oldest bucket) down. */
function firstOfEach<T>(items: readonly Work<T>[], key: (work: Work<T>) => number): Work<T>[] {
  const first = new Map<number, Work<T>>();
  for (const item of items) if (!first.has(key(item))) first.set(key(item), item);
  return [...first.entries()].sort((a, b) => b[0] - a[0]).map(([, item]) => item);
}

/** Returns one decision per entry, sorted oldest first (ties: regular before informative). */
export function schedule<T>(
  entries: readonly ScheduleEntry<T>[],
  policy: PreservePolicy,
  now: Date,
  options: ScheduleOptions = {},
): ScheduleDecision<T>[] {
  const dayOfWeek = policy.dayOfWeek;
  const dayOfWeekNumber = daysOfWeek.indexOf(dayOfWeek);
  const hourOfDay = policy.hourOfDay;
  const matrix = policy.matrix;
  const minimum = policy.minimum;

  // Sort ascending by date; regular entries come in front of informative ones (stable, like Perl's).
  const sorted = [...entries].sort(
    (a, b) => compareDates(a.date, b.date) || (a.informativeOnly ? 1 : 0) - (b.informativeOnly ? 1 : 0),
  );

  // Calendar calculations: days start at hourOfDay (00:00 for date-only names), weeks on
  // dayOfWeek, months and years with the first week starting in them. Hour distances compare
  // local wall-clock hours as if they were UTC (DST is ignored), exactly like btrbk.
  const tmNow = localtime(Math.floor(now.getTime() / 1000));
  const thisYear = tmNow.year;
  const nowHour = timegmNocheck(tmNow.hour, tmNow.mday, tmNow.mon, tmNow.year, thisYear);

  const work: Work<T>[] = sorted.map((entry) => {
    const tm = localtime(entry.date.epochSeconds);
    const hasExactTime = entry.date.hasExactTime;
    let deltaHoursFromHod = tm.hour - (hasExactTime ? hourOfDay : 0);
    let deltaDaysFromEow = tm.wday - dayOfWeekNumber;
    if (deltaHoursFromHod < 0) {
      deltaHoursFromHod += 24;
      deltaDaysFromEow -= 1;
    }
    if (deltaDaysFromEow < 0) deltaDaysFromEow += 7;
    let monthCorr = tm.mon;
    let yearCorr = tm.year;
    if (tm.mday <= deltaDaysFromEow) {
      // Months and years start on the first dayOfWeek: this entry's week began in the previous month.
      monthCorr -= 1;
      if (monthCorr < 0) {
        monthCorr = 11;
        yearCorr -= 1;
      }
    }
    const deltaHours = Math.trunc(
      (nowHour - timegmNocheck(tm.hour, tm.mday, tm.mon, tm.year, thisYear)) / 3600,
    );
    const deltaDays = Math.trunc((deltaHours + deltaHoursFromHod) / 24);
    const deltaWeeks = Math.trunc((deltaDays + deltaDaysFromEow) / 7);
    const deltaYears = tmNow.year - yearCorr;
    const deltaMonths = deltaYears * 12 + (tmNow.mon - monthCorr);

    let preserve = entry.forcePreserve || undefined;
    if (options.preserveFuture && deltaHours < 0) {
      preserve = `preserve forced: ${-deltaHours} hours in the future`;
    }
    return {
      entry,
      deltaHours,
      deltaDays,
      deltaWeeks,
      deltaMonths,
      deltaYears,
      year: yearCorr + 1900,
      month: monthCorr + 1,
      deltaHoursFromHod,
      deltaDaysFromEow,
      realHod: hasExactTime ? hourOfDay : undefined,
      preserve,
    };
  });

  // "preserve all within N hours/days/...", "all", "latest".
  if (minimum.kind === 'all') {
    for (const item of work) item.preserve = 'preserve min: all';
  } else if (minimum.kind === 'within') {
    const within: Record<PreserveUnit, [(item: Work<T>) => number, TimeUnit]> = {
      h: [(item) => item.deltaHours, 'hour'],
      d: [(item) => item.deltaDays, 'day'],
      w: [(item) => item.deltaWeeks, 'week'],
      m: [(item) => item.deltaMonths, 'month'],
      y: [(item) => item.deltaYears, 'year'],
    };
    const [delta, word] = within[minimum.unit];
    for (const item of work) {
      if (delta(item) <= minimum.count) item.preserve = `preserve min: ${ago(delta(item), word)}`;
    }
  } else if (minimum.kind === 'latest' && work.length > 0) {
    work[work.length - 1]!.preserve = 'preserve min: latest';
  }

  // Hourly, daily, weekly, monthly, yearly: each level chooses among the previous level's firsts.
  const hourly = firstOfEach(work, (item) => item.deltaHours);
  for (const item of hourly) {
    if (selects(matrix.h, item.deltaHours)) {
      item.preserve = `preserve hourly: first of hour, ${ago(item.deltaHours, 'hour')}`;
    }
  }
  const daily = firstOfEach(hourly, (item) => item.deltaDays);
  for (const item of daily) {
    if (selects(matrix.d, item.deltaDays)) {
      const startingAt = item.realHod ? ` (starting at ${pad2(item.realHod)}:00)` : '';
      const offset =
        item.realHod !== undefined
          ? (item.deltaHoursFromHod ? `, ${item.deltaHoursFromHod}h after ` : ', at ') +
            `${pad2(item.realHod)}:00`
          : '';
      item.preserve = `preserve daily: first of day${startingAt}, ${ago(item.deltaDays, 'day')}${offset}`;
    }
  }
  const weekly = firstOfEach(daily, (item) => item.deltaWeeks);
  for (const item of weekly) {
    if (selects(matrix.w, item.deltaWeeks)) {
      item.preserve = `preserve weekly: ${ago(item.deltaWeeks, 'week')},${formatPreserveDelta(item, dayOfWeek)}`;
    }
  }
  const monthly = firstOfEach(weekly, (item) => item.deltaMonths);
  for (const item of monthly) {
    if (selects(matrix.m, item.deltaMonths)) {
      item.preserve =
        `preserve monthly: first weekly of month ${item.year}-${pad2(item.month)} ` +
        `(${ago(item.deltaMonths, 'month')},${formatPreserveDelta(item, dayOfWeek)})`;
    }
  }
  const yearly = firstOfEach(monthly, (item) => item.deltaYears);
  for (const item of yearly) {
    if (selects(matrix.y, item.deltaYears)) {
      item.preserve =
        `preserve yearly: first weekly of year ${item.year} ` +
        `(${ago(item.deltaYears, 'year')},${formatPreserveDelta(item, dayOfWeek)})`;
    }
  }

  return work.map((item): ScheduleDecision<T> => {
    const { value, date } = item.entry;
    if (item.entry.informativeOnly) {
      return { value, date, action: 'informative', reason: item.preserve ?? informativeOnlyReason };
    }
    return item.preserve
      ? { value, date, action: 'keep', reason: item.preserve }
      : { value, date, action: 'delete', reason: noRuleMatchedReason };
  });
}
