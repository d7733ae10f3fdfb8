// systemd calendar events (systemd.time(7), "Calendar Events"): the subset people write in
// timers — weekdays, `Y-M-D`, `h:m[:s]`, `*`, lists, `a..b` ranges, `/` repetitions, the
// shorthands (daily, weekly, …) and an optional trailing `UTC` — parsed into per-field sets, and
// the next elapse times computed as `systemd-analyze calendar --iterations=N` prints them (the
// tests compare the two). Pure, a leaf: config validation and the schedule engine both use it.
// No npm library parses systemd's syntax; cron-expression libraries differ (cron ORs day-of-month
// with weekday, systemd ANDs them; cron has no seconds or years).

export interface CalendarSpec {
  /** The expression as written. */
  readonly source: string;
  /** Allowed values per field; weekdays 0 = Sunday … 6 = Saturday (as Date.getDay). */
  readonly weekdays: ReadonlySet<number>;
  readonly years: ReadonlySet<number> | 'any';
  readonly months: ReadonlySet<number>;
  readonly days: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly minutes: ReadonlySet<number>;
  readonly seconds: ReadonlySet<number>;
  readonly utc: boolean;
}

export type CalendarParse = { ok: true; spec: CalendarSpec } | { ok: false; error: string };

/** The shorthands systemd expands (systemd.time(7)). */
export const calendarShorthands: Readonly<Record<string, string>> = {
  minutely: '*-*-* *:*:00',
  hourly: '*-*-* *:00:00',
  daily: '*-*-* 00:00:00',
  monthly: '*-*-01 00:00:00',
  weekly: 'Mon *-*-* 00:00:00',
  yearly: '*-01-01 00:00:00',
  annually: '*-01-01 00:00:00',
  quarterly: '*-01,04,07,10-01 00:00:00',
  semiannually: '*-01,07-01 00:00:00',
};

// systemd's own year range (calendarspec.c): later years are never elapsed.
const minYear = 1970;
const maxYear = 2199;

const weekdayNames = [
  ['sun', 'sunday'],
  ['mon', 'monday'],
  ['tue', 'tuesday'],
  ['wed', 'wednesday'],
  ['thu', 'thursday'],
  ['fri', 'friday'],
  ['sat', 'saturday'],
] as const;

/** `Mon` … `Sunday` (any case) → 0–6, else undefined. */
function weekdayNumber(name: string): number | undefined {
  const lower = name.toLowerCase();
  const index = weekdayNames.findIndex(([short, long]) => lower === short || lower === long);
  return index < 0 ? undefined : index;
}

class CalendarError extends Error {}

const fail = (message: string): never => {
  throw new CalendarError(message);
};

function parseWeekdays(token: string): Set<number> {
  const set = new Set<number>();
  for (const item of token.split(',')) {
    const [from, to, ...rest] = item.split('..');
    if (rest.length > 0 || from === undefined) fail(`"${item}" is not a weekday or weekday range`);
    const start = weekdayNumber(from!);
    if (start === undefined) fail(`"${from}" is not a weekday (Mon, Tue, …, Sun)`);
    if (to === undefined) {
      set.add(start!);
      continue;
    }
    const end = weekdayNumber(to);
    if (end === undefined) fail(`"${to}" is not a weekday (Mon, Tue, …, Sun)`);
    // Monday-first order, as systemd: Sun is the week's last day, and a range may not wrap.
    const order = (day: number): number => (day + 6) % 7;
    if (order(start!) > order(end!))
      fail(`the weekday range "${item}" runs backwards (weeks start on Monday)`);
    for (let day = order(start!); day <= order(end!); day++) set.add((day + 1) % 7);
  }
  return set;
}

const number = (text: string, what: string): number => {
  if (!/^\d+$/.test(text)) fail(`"${text}" is not a number (${what})`);
  return Number(text);
};

/** One field: `*`, `N`, `a..b`, `a/r`, `a..b/r`, `*\/r`, comma lists of these. */
function parseField(text: string, what: string, min: number, max: number): Set<number> | 'any' {
  if (text === '') fail(`the ${what} is empty`);
  const set = new Set<number>();
  for (const item of text.split(',')) {
    if (item === '*') {
      if (text.split(',').length > 1) fail(`"*" cannot be combined with other ${what} values`);
      return 'any';
    }
    if (item.includes('~'))
      fail(`"${item}": counting days from the month's end (~) is not supported by snapkeep`);
    if (item.includes('.') && !item.includes('..'))
      fail(`"${item}": fractions of a second are not supported by snapkeep`);
    const [range, repeat, ...extra] = item.split('/');
    if (extra.length > 0) fail(`"${item}" has more than one "/"`);
    let start: number;
    let end: number;
    if (range === '*') {
      if (repeat === undefined) fail(`"${item}" is not a ${what}`);
      start = min;
      end = max;
    } else {
      const [from, to, ...more] = range!.split('..');
      if (more.length > 0) fail(`"${item}" is not a ${what} range`);
      start = number(from!, what);
      end = to === undefined ? (repeat === undefined ? start : max) : number(to, what);
    }
    if (start < min || start > max) fail(`${what} ${start} is out of range ${min}..${max}`);
    if (end < min || end > max) fail(`${what} ${end} is out of range ${min}..${max}`);
    if (end < start) fail(`the ${what} range "${item}" runs backwards`);
    const step = repeat === undefined ? 1 : number(repeat, `${what} repetition`);
    if (step < 1) fail(`the repetition in "${item}" must be at least 1`);
    for (let value = start; value <= end; value += step) set.add(value);
  }
  return set;
}

const all = (min: number, max: number): Set<number> => {
  const set = new Set<number>();
  for (let value = min; value <= max; value++) set.add(value);
  return set;
};

const orAll = (field: Set<number> | 'any', min: number, max: number): Set<number> =>
  field === 'any' ? all(min, max) : field;

function parseDate(token: string): Pick<CalendarSpec, 'years' | 'months' | 'days'> {
  const parts = token.split('-');
  if (parts.length < 2 || parts.length > 3) fail(`"${token}" is not a date (YYYY-MM-DD or MM-DD)`);
  const [year, month, day] = parts.length === 3 ? parts : ['*', ...parts];
  const years = parseField(year!, 'year', minYear, maxYear);
  return {
    years,
    months: orAll(parseField(month!, 'month', 1, 12), 1, 12),
    days: orAll(parseField(day!, 'day', 1, 31), 1, 31),
  };
}

function parseTime(token: string): Pick<CalendarSpec, 'hours' | 'minutes' | 'seconds'> {
  const parts = token.split(':');
  if (parts.length < 2 || parts.length > 3) fail(`"${token}" is not a time (hh:mm or hh:mm:ss)`);
  const [hour, minute, second = '00'] = parts;
  return {
    hours: orAll(parseField(hour!, 'hour', 0, 23), 0, 23),
    minutes: orAll(parseField(minute!, 'minute', 0, 59), 0, 59),
    seconds: orAll(parseField(second, 'second', 0, 59), 0, 59),
  };
}

/** Parse a calendar event; the error says what is wrong with which part. */
export function parseCalendar(expression: string): CalendarParse {
  const source = expression;
  const trimmed = expression.trim();
  const expanded = calendarShorthands[trimmed] ?? trimmed;
  try {
    if (expanded === '') fail('it is empty');
    const tokens = expanded.split(/\s+/);
    if (tokens.length === 1 && /^[A-Za-z]+$/.test(trimmed) && weekdayNumber(trimmed) === undefined)
      fail(
        `"${trimmed}" is neither a shorthand (${Object.keys(calendarShorthands).join(', ')}) nor a weekday`,
      );
    let utc = false;
    if (tokens.length > 1 && tokens.at(-1) === 'UTC') {
      utc = true;
      tokens.pop();
    }
    let weekdays: Set<number> = all(0, 6);
    if (tokens[0] !== undefined && /^[A-Za-z]/.test(tokens[0])) weekdays = parseWeekdays(tokens.shift()!);
    let date: Pick<CalendarSpec, 'years' | 'months' | 'days'> = {
      years: 'any',
      months: all(1, 12),
      days: all(1, 31),
    };
    if (tokens[0] !== undefined && tokens[0].includes('-')) date = parseDate(tokens.shift()!);
    let time: Pick<CalendarSpec, 'hours' | 'minutes' | 'seconds'> = {
      hours: new Set([0]),
      minutes: new Set([0]),
      seconds: new Set([0]),
    };
    if (tokens[0] !== undefined && tokens[0].includes(':')) time = parseTime(tokens.shift()!);
    if (tokens.length > 0)
      fail(
        `"${tokens.join(' ')}" is not understood (time zones other than UTC are not supported by snapkeep)`,
      );
    return { ok: true, spec: { source, weekdays, ...date, ...time, utc } };
  } catch (error) {
    if (error instanceof CalendarError) return { ok: false, error: error.message };
    throw error;
  }
}

interface Parts {
  readonly year: number;
  readonly month: number;
  readonly day: number;
  readonly hour: number;
  readonly minute: number;
  readonly second: number;
  readonly weekday: number;
}

function partsOf(time: Date, utc: boolean): Parts {
  return utc
    ? {
        year: time.getUTCFullYear(),
        month: time.getUTCMonth() + 1,
        day: time.getUTCDate(),
        hour: time.getUTCHours(),
        minute: time.getUTCMinutes(),
        second: time.getUTCSeconds(),
        weekday: time.getUTCDay(),
      }
    : {
        year: time.getFullYear(),
        month: time.getMonth() + 1,
        day: time.getDate(),
        hour: time.getHours(),
        minute: time.getMinutes(),
        second: time.getSeconds(),
        weekday: time.getDay(),
      };
}

/** The instant of these wall-clock fields (overflowing fields carry, as Date does). */
function instant(utc: boolean, year: number, month: number, day = 1, hour = 0, minute = 0, second = 0): Date {
  return utc
    ? new Date(Date.UTC(year, month - 1, day, hour, minute, second))
    : new Date(year, month - 1, day, hour, minute, second);
}

/** The first elapse strictly after `after` (whole seconds), or undefined when there is none. */
export function nextElapse(spec: CalendarSpec, after: Date): Date | undefined {
  const { utc } = spec;
  let time = new Date(Math.floor(after.getTime() / 1000) * 1000 + 1000);
  // Each miss moves to the start of the next unit of the field that missed: at most a few
  // hundred thousand steps before the year range ends.
  for (;;) {
    const p = partsOf(time, utc);
    if (p.year > maxYear) return undefined;
    if (spec.years !== 'any' && !spec.years.has(p.year)) {
      const later = [...spec.years].filter((year) => year > p.year);
      if (later.length === 0) return undefined;
      time = instant(utc, Math.min(...later), 1);
    } else if (!spec.months.has(p.month)) time = instant(utc, p.year, p.month + 1);
    else if (!spec.days.has(p.day) || !spec.weekdays.has(p.weekday))
      time = instant(utc, p.year, p.month, p.day + 1);
    else if (!spec.hours.has(p.hour)) time = instant(utc, p.year, p.month, p.day, p.hour + 1);
    else if (!spec.minutes.has(p.minute)) time = instant(utc, p.year, p.month, p.day, p.hour, p.minute + 1);
    else if (!spec.seconds.has(p.second))
      time = instant(utc, p.year, p.month, p.day, p.hour, p.minute, p.second + 1);
    else return time;
  }
}

/** The next `count` elapse times after `after` (fewer when the expression runs out). */
export function nextElapses(spec: CalendarSpec, after: Date, count: number): Date[] {
  const times: Date[] = [];
  let from = after;
  while (times.length < count) {
    const next = nextElapse(spec, from);
    if (!next) break;
    times.push(next);
    from = next;
  }
  return times;
}
