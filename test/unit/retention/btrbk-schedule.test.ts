// schedule() against hand-computed expectations (btrbk 0.32.5's rules, FACTS.md §1). Every
// expected delta below is worked out in the comment next to it; names are read in UTC unless a
// test switches the time zone.
import { describe, expect, it } from 'vitest';
import { parseSnapshotName } from '../../../src/snapshot-name.js';
import {
  informativeOnlyReason,
  noRuleMatchedReason,
  parseBtrbkSnapshotName,
  schedule,
  type ScheduleEntry,
  type ScheduleOptions,
} from '../../../src/retention/btrbk-schedule.js';
import type {
  DayOfWeek,
  PreserveMatrix,
  PreserveMinimum,
  PreservePolicy,
} from '../../../src/retention/preserve-policy.js';
import { useTimeZone } from '../../helpers/time-zone.js';

useTimeZone('UTC');

const none: PreserveMinimum = { kind: 'no' };

function policy(
  matrix: PreserveMatrix,
  minimum: PreserveMinimum = none,
  dayOfWeek: DayOfWeek = 'sunday',
  hourOfDay = 0,
): PreservePolicy {
  return { matrix, minimum, dayOfWeek, hourOfDay };
}

/** Local time (TZ) from "YYYY-MM-DDThh:mm[:ss]". */
function at(text: string): Date {
  const [date, time] = text.split('T') as [string, string];
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  const [hour, minute, second = 0] = time.split(':').map(Number) as [number, number, number?];
  return new Date(year, month - 1, day, hour, minute, second);
}

function entry(name: string, extra: Partial<ScheduleEntry<string>> = {}): ScheduleEntry<string> {
  const parsed = parseSnapshotName(name);
  if (!parsed) throw new Error(`bad test name ${name}`);
  return { value: name, date: parsed.date, ...extra };
}

/** name → [action, reason], plus the order schedule() returned. */
function decide(
  entries: readonly (string | ScheduleEntry<string>)[],
  rules: PreservePolicy,
  now: string,
  options?: ScheduleOptions,
) {
  const decisions = schedule(
    entries.map((item) => (typeof item === 'string' ? entry(item) : item)),
    rules,
    at(now),
    options,
  );
  return {
    order: decisions.map((decision) => decision.value),
    byName: Object.fromEntries(
      decisions.map((decision) => [decision.value, [decision.action, decision.reason]]),
    ),
    kept: decisions.filter((decision) => decision.action === 'keep').map((decision) => decision.value),
  };
}

const hourlyNames = (from: string, hours: number): string[] => {
  const start = at(from).getTime();
  return Array.from({ length: hours }, (_, index) => {
    const date = new Date(start + index * 3_600_000);
    const pad = (value: number) => String(value).padStart(2, '0');
    return `x.${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}T${pad(date.getHours())}00`;
  });
};

describe('hourly', () => {
  it('24h keeps 25 snapshots: the current hour and 24 before it (bounds are inclusive)', () => {
    // Hourly names 2024-03-09T00:00 … 2024-03-10T12:00; now 12:30 → delta_hours 36 … 0.
    const names = hourlyNames('2024-03-09T00:00', 37);
    const { kept, byName } = decide(names, policy({ h: 24 }), '2024-03-10T12:30');
    expect(kept).toHaveLength(25);
    expect(kept[0]).toBe('x.20240309T1200');
    expect(byName['x.20240309T1200']).toEqual(['keep', 'preserve hourly: first of hour, 24 hours ago']);
    expect(byName['x.20240309T1100']).toEqual(['delete', noRuleMatchedReason]);
    expect(byName['x.20240310T1200']).toEqual(['keep', 'preserve hourly: first of hour, 0 hours ago']);
  });

  it('keeps only the first snapshot of each hour; *h keeps every hour, 0h none', () => {
    const names = ['x.20200101T1005', 'x.20200101T1040', 'x.20240310T1100', 'x.20240310T1159'];
    const star = decide(names, policy({ h: 'all' }), '2024-03-10T12:30');
    expect(star.kept).toEqual(['x.20200101T1005', 'x.20240310T1100']);
    expect(star.byName['x.20200101T1005']![1]).toMatch(/^preserve hourly: first of hour, \d+ hours ago$/);
    expect(decide(names, policy({ h: 0 }), '2024-03-10T12:30').kept).toEqual([]);
  });
});

describe('daily and preserve_hour_of_day', () => {
  it('starts days at the hour of day, and writes btrbk reasons', () => {
    // now 2024-03-10T12:30 (Sunday), days start at 06:00.
    // 03-10T07:00: dh_hod 1, delta_hours 5 → delta_days trunc(6/24) = 0, but 06:00 comes first.
    // 03-10T06:00: dh_hod 0, delta_hours 6 → delta_days 0.
    // 03-10T05:00: dh_hod 23 (wraps), delta_hours 7 → delta_days trunc(30/24) = 1.
    // 03-07T06:00: delta_hours 78 → delta_days 3.   03-07T05:00: 79 + 23 → delta_days 4.
    const names = [
      'x.20240307T0500',
      'x.20240307T0600',
      'x.20240310T0500',
      'x.20240310T0600',
      'x.20240310T0700',
    ];
    const { byName } = decide(names, policy({ d: 3 }, none, 'sunday', 6), '2024-03-10T12:30');
    expect(byName).toEqual({
      'x.20240307T0500': ['delete', noRuleMatchedReason],
      'x.20240307T0600': ['keep', 'preserve daily: first of day (starting at 06:00), 3 days ago, at 06:00'],
      'x.20240310T0500': [
        'keep',
        'preserve daily: first of day (starting at 06:00), 1 day ago, 23h after 06:00',
      ],
      'x.20240310T0600': ['keep', 'preserve daily: first of day (starting at 06:00), 0 days ago, at 06:00'],
      'x.20240310T0700': ['delete', noRuleMatchedReason],
    });
  });

  it('with hour of day 0, says "at 00:00" without "(starting at …)"', () => {
    const { byName } = decide(['x.20240309T0000', 'x.20240309T0130'], policy({ d: 1 }), '2024-03-10T12:30');
    expect(byName['x.20240309T0000']).toEqual(['keep', 'preserve daily: first of day, 1 day ago, at 00:00']);
  });

  it('date-only names ignore the hour of day (their day starts at 00:00) and have no time in reasons', () => {
    // hod 6. Short 2024-03-10: dh_hod 0 - 0 = 0, delta_hours 12 → delta_days 0.
    // Long 2024-03-10T0000: dh_hod -6 + 24 = 18, delta_hours 12 → delta_days trunc(30/24) = 1.
    const names = ['x.20240310', 'y.20240310T0000'];
    const min = decide(
      names,
      policy({}, { kind: 'within', count: 0, unit: 'd' }, 'sunday', 6),
      '2024-03-10T12:30',
    );
    expect(min.byName['x.20240310']).toEqual(['keep', 'preserve min: 0 days ago']);
    expect(min.byName['y.20240310T0000']).toEqual(['delete', noRuleMatchedReason]);
    const daily = decide(['x.20240308'], policy({ d: 5 }, none, 'sunday', 6), '2024-03-10T12:30');
    expect(daily.byName['x.20240308']).toEqual(['keep', 'preserve daily: first of day, 2 days ago']);
  });
});

describe('weekly and preserve_day_of_week', () => {
  it('counts weeks from the day of week, inclusive, among the daily firsts', () => {
    // now Sunday 2024-03-10T12:30, weeks start Sunday 00:00.
    // 03-10T01:00 Sun: week 0.  03-09T10:00 Sat: delta_days trunc((26+10)/24) = 1, + dd_eow 6 → week 1.
    // 03-03T00:00 Sun: delta_days 7 → week 1 (first of it).  03-02T23:00 Sat: delta_hours 181,
    // dh_hod 23 → delta_days 8, + 6 → week 2.  02-24T12:00 Sat: delta_days 15, + 6 → week 3.
    const names = [
      'x.20240224T1200',
      'x.20240302T2300',
      'x.20240303T0000',
      'x.20240309T1000',
      'x.20240310T0100',
    ];
    const { byName } = decide(names, policy({ w: 2 }), '2024-03-10T12:30');
    expect(byName).toEqual({
      'x.20240224T1200': ['delete', noRuleMatchedReason],
      'x.20240302T2300': ['keep', 'preserve weekly: 2 weeks ago, 6d 23h after sunday 00:00'],
      'x.20240303T0000': ['keep', 'preserve weekly: 1 week ago, at sunday 00:00'],
      'x.20240309T1000': ['delete', noRuleMatchedReason],
      'x.20240310T0100': ['keep', 'preserve weekly: 0 weeks ago, 1h after sunday 00:00'],
    });
  });

  it('shifts the week start with day of week and hour of day (before the hour: the previous day)', () => {
    // Weeks start Wednesday 06:00. Wed 2024-03-06T05:00: dh_hod -1 → 23, dd_eow 3 - 3 - 1 → 6:
    // it belongs to the week that began Wed 02-28 06:00. Wed 03-06T06:00 starts a new week.
    const names = ['x.20240306T0500', 'x.20240306T0600'];
    const { byName } = decide(names, policy({ w: 5 }, none, 'wednesday', 6), '2024-03-10T12:30');
    expect(byName).toEqual({
      'x.20240306T0500': ['keep', 'preserve weekly: 1 week ago, 6d 23h after wednesday 06:00'],
      'x.20240306T0600': ['keep', 'preserve weekly: 0 weeks ago, at wednesday 06:00'],
    });
  });
});

describe('monthly and yearly', () => {
  it('a month is the weeks that start in it: early days before the first week belong to the previous month', () => {
    // now 2024-03-10T12:30 (Sunday). Sat 2024-03-02: mday 2 <= dd_eow 6 → February (1 month ago).
    // Sun 2024-03-03 → March (0 months ago).
    const { byName } = decide(['x.20240302T1200', 'x.20240303T1200'], policy({ m: 3 }), '2024-03-10T12:30');
    expect(byName).toEqual({
      'x.20240302T1200': [
        'keep',
        'preserve monthly: first weekly of month 2024-02 (1 month ago, 6d 12h after sunday 00:00)',
      ],
      'x.20240303T1200': [
        'keep',
        'preserve monthly: first weekly of month 2024-03 (0 months ago, 12h after sunday 00:00)',
      ],
    });
  });

  it('wraps the month into the previous year, and keeps the first weekly of each month', () => {
    // Sun 2023-12-31 starts a week that contains Sat 2024-01-06 (not a weekly first: deleted).
    // Sun 2024-01-07 is the first week of January: 2 months before March.
    const names = ['x.20231231T1200', 'x.20240106T1200', 'x.20240107T1200'];
    const { byName } = decide(names, policy({ m: 3 }), '2024-03-10T12:30');
    expect(byName).toEqual({
      'x.20231231T1200': [
        'keep',
        'preserve monthly: first weekly of month 2023-12 (3 months ago, 12h after sunday 00:00)',
      ],
      'x.20240106T1200': ['delete', noRuleMatchedReason],
      'x.20240107T1200': [
        'keep',
        'preserve monthly: first weekly of month 2024-01 (2 months ago, 12h after sunday 00:00)',
      ],
    });
    // Alone, Sat 2024-01-06 (mday 6 <= dd_eow 6) counts as December 2023: 12*1 + (2 - 11) = 3 months.
    const alone = decide(['x.20240106T1200'], policy({ m: 2 }), '2024-03-10T12:30');
    expect(alone.byName['x.20240106T1200']).toEqual(['delete', noRuleMatchedReason]);
    const three = decide(['x.20240106T1200'], policy({ m: 3 }), '2024-03-10T12:30');
    expect(three.byName['x.20240106T1200']![1]).toBe(
      'preserve monthly: first weekly of month 2023-12 (3 months ago, 6d 12h after sunday 00:00)',
    );
  });

  it('does not shift "now" into the previous month', () => {
    // now Sat 2024-03-02 12:30: still March. Fri 2024-03-01 (mday 1 <= dd_eow 5) counts as
    // February, 1 month ago, although it is in the current week: min 0m does not keep it.
    const names = ['x.20240301T1000'];
    const zero = decide(names, policy({}, { kind: 'within', count: 0, unit: 'm' }), '2024-03-02T12:30');
    expect(zero.byName['x.20240301T1000']).toEqual(['delete', noRuleMatchedReason]);
    const one = decide(names, policy({}, { kind: 'within', count: 1, unit: 'm' }), '2024-03-02T12:30');
    expect(one.byName['x.20240301T1000']).toEqual(['keep', 'preserve min: 1 month ago']);
  });

  it('counts years from the first week of the year', () => {
    // Sat 2022-01-01 belongs to December 2021 → 3 years before 2024; Sun 2022-01-02 → 2022.
    const names = ['x.20220101T1200', 'x.20220102T1200', 'x.20230615T1200'];
    const { byName } = decide(names, policy({ y: 2 }), '2024-03-10T12:30');
    expect(byName).toEqual({
      'x.20220101T1200': ['delete', noRuleMatchedReason],
      'x.20220102T1200': [
        'keep',
        'preserve yearly: first weekly of year 2022 (2 years ago, 12h after sunday 00:00)',
      ],
      'x.20230615T1200': [
        'keep',
        'preserve yearly: first weekly of year 2023 (1 year ago, 4d 12h after sunday 00:00)',
      ],
    });
    const starred = decide(names, policy({ y: 'all' }), '2024-03-10T12:30');
    expect(starred.byName['x.20220101T1200']![1]).toBe(
      'preserve yearly: first weekly of year 2021 (3 years ago, 6d 12h after sunday 00:00)',
    );
  });

  it('reports the last rule that matched (the coarsest level)', () => {
    const { byName } = decide(
      ['x.20240310T0100'],
      policy({ h: 24, d: 7, w: 4, m: 12, y: 2 }),
      '2024-03-10T12:30',
    );
    expect(byName['x.20240310T0100']![1]).toMatch(/^preserve yearly: first weekly of year 2024 /);
  });
});

describe('preserve minimum', () => {
  const names = ['x.20240301T1000', 'x.20240308T1000', 'x.20240310T0900', 'x.20240310T1000'];
  const now = '2024-03-10T12:30';

  it('all keeps everything, whatever the matrix', () => {
    const { byName } = decide(names, policy({}, { kind: 'all' }), now);
    for (const name of names) expect(byName[name]).toEqual(['keep', 'preserve min: all']);
  });

  it('latest keeps the newest only; no keeps nothing', () => {
    expect(decide(names, policy({}, { kind: 'latest' }), now).byName).toEqual({
      'x.20240301T1000': ['delete', noRuleMatchedReason],
      'x.20240308T1000': ['delete', noRuleMatchedReason],
      'x.20240310T0900': ['delete', noRuleMatchedReason],
      'x.20240310T1000': ['keep', 'preserve min: latest'],
    });
    expect(decide(names, policy({}, none), now).kept).toEqual([]);
  });

  it('N units keeps everything up to N units ago (inclusive)', () => {
    // delta_days: 03-01 → trunc((218+10)/24) = 9; 03-08 → 2; 03-10 → 0.
    expect(decide(names, policy({}, { kind: 'within', count: 2, unit: 'd' }), now).byName).toEqual({
      'x.20240301T1000': ['delete', noRuleMatchedReason],
      'x.20240308T1000': ['keep', 'preserve min: 2 days ago'],
      'x.20240310T0900': ['keep', 'preserve min: 0 days ago'],
      'x.20240310T1000': ['keep', 'preserve min: 0 days ago'],
    });
    expect(decide(names, policy({}, { kind: 'within', count: 3, unit: 'h' }), now).kept).toEqual([
      'x.20240310T0900',
      'x.20240310T1000',
    ]);
    // delta_weeks: 03-01 (Friday, dd_eow 5) → trunc((9 + 5)/7) = 2; 03-08 → trunc((2 + 5)/7) = 1.
    expect(decide(names, policy({}, { kind: 'within', count: 1, unit: 'w' }), now).kept).toHaveLength(3);
    expect(decide(names, policy({}, { kind: 'within', count: 2, unit: 'w' }), now).kept).toHaveLength(4);
    expect(decide(names, policy({}, { kind: 'within', count: 0, unit: 'y' }), now).kept).toHaveLength(4);
  });

  it("a matrix rule overrides the minimum's reason text", () => {
    const { byName } = decide(names, policy({ h: 2 }, { kind: 'all' }), now);
    expect(byName['x.20240301T1000']).toEqual(['keep', 'preserve min: all']);
    expect(byName['x.20240310T1000']).toEqual(['keep', 'preserve hourly: first of hour, 2 hours ago']);
  });
});

describe('ordering, duplicates, future and informative entries', () => {
  it('sorts by time then _N (input order does not matter) and keeps the first of the hour', () => {
    const names = ['x.20240310T1000_2', 'x.20240310T100030+0000', 'x.20240310T1000', 'x.20240310T1000_1'];
    const { order, byName } = decide(names, policy({ h: 24 }), '2024-03-10T12:30');
    expect(order).toEqual([
      'x.20240310T1000',
      'x.20240310T1000_1',
      'x.20240310T1000_2',
      'x.20240310T100030+0000',
    ]);
    expect(byName['x.20240310T1000']![0]).toBe('keep');
    expect(byName['x.20240310T1000_1']![0]).toBe('delete');
    expect(byName['x.20240310T1000_2']![0]).toBe('delete');
  });

  it('keeps input order between equal dates written differently', () => {
    const { order } = decide(
      ['x.20240310T120000+0200', 'x.20240310T1000'],
      policy({ h: 1 }),
      '2024-03-10T12:30',
    );
    expect(order).toEqual(['x.20240310T120000+0200', 'x.20240310T1000']);
  });

  it('preserveFuture keeps entries in a later hour, not later in the current hour', () => {
    const names = ['x.20240310T1245', 'x.20240310T1500', 'x.20250101'];
    const pruning = decide(names, policy({}), '2024-03-10T12:30', { preserveFuture: true });
    expect(pruning.byName).toEqual({
      'x.20240310T1245': ['delete', noRuleMatchedReason],
      'x.20240310T1500': ['keep', 'preserve forced: 3 hours in the future'],
      // 297 days less 12 hours.
      'x.20250101': ['keep', 'preserve forced: 7116 hours in the future'],
    });
    // Without it (deciding what to send) future entries follow the rules like any other.
    expect(decide(names, policy({}), '2024-03-10T12:30').kept).toEqual([]);
    // A rule that matches replaces the "forced" reason (delta_days trunc((-3 + 15)/24) = 0).
    const daily = decide(['x.20240310T1500'], policy({ d: 1 }), '2024-03-10T12:30', { preserveFuture: true });
    expect(daily.byName['x.20240310T1500']).toEqual([
      'keep',
      'preserve daily: first of day, 0 days ago, 15h after 00:00',
    ]);
  });

  it('forcePreserve keeps an entry, unless a rule gives a later reason', () => {
    const forced = entry('x.20200101T1000', { forcePreserve: 'preserve forced: latest common snapshot' });
    expect(decide([forced], policy({}), '2024-03-10T12:30').byName['x.20200101T1000']).toEqual([
      'keep',
      'preserve forced: latest common snapshot',
    ]);
    expect(decide([forced], policy({ y: 'all' }), '2024-03-10T12:30').byName['x.20200101T1000']![1]).toMatch(
      /^preserve yearly: /,
    );
  });

  it('informative entries take part in bucket selection but are never kept or deleted', () => {
    // The informative 10:00 copy is first of the hour, so the regular 10:30 entry is not.
    const informative = entry('t.20240310T1000', { informativeOnly: true });
    const first = decide([entry('x.20240310T1030'), informative], policy({ h: 24 }), '2024-03-10T12:30');
    expect(first.order).toEqual(['t.20240310T1000', 'x.20240310T1030']);
    expect(first.byName['t.20240310T1000']).toEqual([
      'informative',
      'preserve hourly: first of hour, 2 hours ago',
    ]);
    expect(first.byName['x.20240310T1030']).toEqual(['delete', noRuleMatchedReason]);
    // At the same date, regular entries sort first.
    const tie = entry('t.20240310T1030', { informativeOnly: true });
    const same = decide([tie, entry('x.20240310T1030')], policy({ h: 24 }), '2024-03-10T12:30');
    expect(same.order).toEqual(['x.20240310T1030', 't.20240310T1030']);
    expect(same.byName['x.20240310T1030']![0]).toBe('keep');
    expect(same.byName['t.20240310T1030']).toEqual(['informative', informativeOnlyReason]);
    // "latest" goes to the newest entry even if it is informative (btrbk does the same).
    const latest = decide(
      [entry('x.20240310T0900'), entry('t.20240310T1000', { informativeOnly: true })],
      policy({}, { kind: 'latest' }),
      '2024-03-10T12:30',
    );
    expect(latest.byName['x.20240310T0900']![0]).toBe('delete');
    expect(latest.byName['t.20240310T1000']).toEqual(['informative', 'preserve min: latest']);
  });

  it('returns nothing for nothing', () => {
    expect(schedule([], policy({ h: 1 }, { kind: 'latest' }), at('2024-03-10T12:30'))).toEqual([]);
  });
});

describe('local time', () => {
  it('counts wall-clock hours across a DST change (like btrbk, which ignores DST)', () => {
    process.env.TZ = 'Europe/Berlin';
    // 2024-03-31 01:00 CET to 12:30 CEST is 10.5 real hours but 11 wall-clock hours.
    const { byName } = decide(['x.20240331T0100'], policy({ h: 11 }), '2024-03-31T12:30');
    expect(byName['x.20240331T0100']).toEqual(['keep', 'preserve hourly: first of hour, 11 hours ago']);
    expect(decide(['x.20240331T0100'], policy({ h: 10 }), '2024-03-31T12:30').kept).toEqual([]);
  });
});

describe("parseBtrbkSnapshotName (btrbk's _get_btrbk_date with Perl's Time::Local)", () => {
  const now2024 = new Date(Date.UTC(2024, 2, 10, 12));
  const epoch = (name: string, now = now2024): number | undefined => {
    const result = parseBtrbkSnapshotName(name, now);
    return result.kind === 'snapshot' ? result.snapshot.date.epochSeconds : undefined;
  };

  it('agrees with parseSnapshotName for ordinary names in several time zones', () => {
    const names = [
      'home.20240310',
      'home.20240310T1200',
      'home.20240310T1200_3',
      'home.20240310T120059+0530',
      'home.20240310T120059-0500',
      'home.20240310T120059Z',
      'var.log.20231029T0230',
      'a.b.c.20000229T0000',
      'x.28991231T2359',
    ];
    for (const zone of ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata']) {
      process.env.TZ = zone;
      for (const name of names) {
        const ours = parseBtrbkSnapshotName(name, now2024);
        expect(ours, `${name} in ${zone}`).toEqual({ kind: 'snapshot', snapshot: parseSnapshotName(name) });
      }
    }
  });

  it('reads years 1900-1999 as two-digit years in a rolling century around now', () => {
    // In 2024 the breakpoint is 74: 70 → 2070, 74 → 2074, 75 → 1975. In 2025, 75 → 2075.
    expect(epoch('x.19700101T0000')).toBe(Date.UTC(2070, 0, 1) / 1000);
    expect(epoch('x.19740615')).toBe(Date.UTC(2074, 5, 15) / 1000);
    expect(epoch('x.19750615')).toBe(Date.UTC(1975, 5, 15) / 1000);
    expect(epoch('x.19750615', new Date(Date.UTC(2025, 0, 5)))).toBe(Date.UTC(2075, 5, 15) / 1000);
    expect(epoch('x.19700101T000000+0000', new Date(Date.UTC(2019, 0, 1)))).toBe(0);
    // 1900-02-29 does not exist, but btrbk reads it as 2000-02-29.
    expect(epoch('x.19000229')).toBe(Date.UTC(2000, 1, 29) / 1000);
  });

  it('takes 1900 years off years from 2900', () => {
    const year1050 = new Date(Date.UTC(2000, 0, 1));
    year1050.setUTCFullYear(1050);
    expect(epoch('x.29500101')).toBe(year1050.getTime() / 1000);
  });

  it('resolves DST gaps and overlaps like Time::Local (values taken from Perl)', () => {
    process.env.TZ = 'Europe/Berlin';
    expect(epoch('x.20240331T0230')).toBe(1711848600); // gap: 01:30 UTC
    expect(epoch('x.20241027T0230')).toBe(1729989000); // overlap: the first 02:30 (CEST)
    process.env.TZ = 'Australia/Lord_Howe';
    expect(epoch('x.20240407T0130')).toBe(1712412000); // 30-minute overlap: Perl takes the first 01:30
    expect(epoch('x.20240407T0145')).toBe(1712412900);
  });

  it('tells names with an illegal timestamp from lines that are not names', () => {
    expect(parseBtrbkSnapshotName('x.20240230', now2024)).toEqual({
      kind: 'illegal-timestamp',
      basename: 'x',
    });
    expect(parseBtrbkSnapshotName('x.20241301T0000', now2024).kind).toBe('illegal-timestamp');
    expect(parseBtrbkSnapshotName('x.20240101T2400', now2024).kind).toBe('illegal-timestamp');
    expect(parseBtrbkSnapshotName('x.20240101T235960+0000', now2024).kind).toBe('illegal-timestamp');
    for (const line of ['x', 'x.2024', '.20240101', 'x.20240101T1200x', 'x.20240101T120000', 'x.20240101_']) {
      expect(parseBtrbkSnapshotName(line, now2024).kind, line).toBe('not-a-snapshot-name');
    }
  });
});
