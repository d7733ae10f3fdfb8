// snapkeep's calendar parser against systemd's own: for each expression, the next 5 elapse
// times from fixed base times (in three time zones, across DST changes) must equal what `systemd-analyze calendar
// --iterations=5 --base-time=…` prints, and what systemd rejects snapkeep rejects.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextElapses, parseCalendar } from '../../src/calendar/systemd-calendar.js';
import { runCommand } from '../../src/exec/command.js';
import { requireTools } from '../helpers/loop-btrfs.js';

const expressions = [
  'minutely',
  'hourly',
  'daily',
  'weekly',
  'monthly',
  'yearly',
  'annually',
  'quarterly',
  'semiannually',
  '*-*-* 00/4:00:00',
  'Mon..Fri 02:30',
  'Sat,Sun 10:00',
  'mon,wed,fri 12:00',
  'Tuesday 04:05:06',
  '*-*-01 03:00',
  '*:0/15',
  '*:00/20:30',
  '*-*-* 8..18:00',
  '*-*-* 8..18/3:05',
  '00/2:30',
  'Fri 23:59:59',
  '*-12-31 23:59:59',
  '*-*-* *:*:0/10',
  '*-*-* 06,18:00',
  'Mon..Wed,Fri 1:2:3',
  'Mon *-*-1..7 03:00',
  '*-1/3-1 0:0',
  '*-02-29 12:00',
  '2027-*-* 00:00',
  '2026..2030/2-06-15 09:00',
  '*-*-15/5 00:00',
  '12:00 UTC',
  'Sun 00:00 UTC',
  '2026-12-25',
  '*-02-30',
  '1..5:0/30',
];

const rejected = [
  'Persistant',
  'Fri..Mon',
  '*-*-* 25:00',
  '*-13-01',
  '*-*-32',
  '*:60',
  '',
  'Mon..',
  'every 4h',
  '*-*-* 00/0:00',
];

// Base times: an ordinary day, a month end before a leap day, a year's end, and the nights
// before and of the 2026 DST changes (in Europe/Berlin: a skipped and a repeated hour).
const baseTimes = [
  '2026-01-01 00:00:00',
  '2027-12-30 22:17:05',
  '2026-06-14 13:00:00',
  '2026-03-28 21:00:00',
  '2026-10-25 01:10:00',
];
const zones = ['UTC', 'America/New_York', 'Europe/Berlin'];

const savedTz = process.env.TZ;
beforeAll(async () => {
  await requireTools(['systemd-analyze']);
});
afterAll(() => {
  if (savedTz === undefined) delete process.env.TZ;
  else process.env.TZ = savedTz;
});

/** The UTC instants systemd prints ("(in UTC): Thu 2026-01-01 03:00:00 UTC"), or "never". */
async function systemdElapses(expression: string, base: string, tz: string): Promise<string[] | 'rejected'> {
  const result = await runCommand({
    file: 'systemd-analyze',
    args: ['calendar', '--iterations=5', `--base-time=${base}`, expression],
    env: { TZ: tz },
  });
  if (result.exitCode !== 0) return 'rejected';
  // Each elapse line is followed by its UTC instant, except where the zone is UTC already.
  const instants: string[] = [];
  for (const line of result.stdout.split('\n')) {
    const elapse = /(?:Next elapse|Iter\. #\d+): \w{3} (\S+) (\S+) (\S+)$/.exec(line);
    const inUtc = /\(in UTC\): \w{3} (\S+) (\S+) UTC$/.exec(line);
    if (elapse) instants.push(elapse[3] === 'UTC' ? `${elapse[1]}T${elapse[2]}.000Z` : 'local');
    else if (inUtc) instants[instants.length - 1] = `${inUtc[1]}T${inUtc[2]}.000Z`;
  }
  return instants;
}

/** The base time as systemd reads it: local wall-clock time in `tz`. */
function localInstant(base: string): Date {
  const [date, time] = base.split(' ');
  const [y, mo, d] = date!.split('-').map(Number);
  const [h, mi, s] = time!.split(':').map(Number);
  return new Date(y!, mo! - 1, d, h, mi, s);
}

describe('calendar events: next 5 elapses equal systemd-analyze calendar', () => {
  for (const tz of zones)
    for (const expression of expressions)
      it(`${JSON.stringify(expression)} in ${tz}`, async () => {
        for (const base of baseTimes) {
          const expected = await systemdElapses(expression, base, tz);
          expect(expected, `systemd rejects ${expression}`).not.toBe('rejected');
          process.env.TZ = tz;
          const parsed = parseCalendar(expression);
          if (!parsed.ok) throw new Error(`snapkeep rejects ${expression}: ${parsed.error}`);
          const ours = nextElapses(parsed.spec, localInstant(base), 5).map((time) => time.toISOString());
          expect(ours, `${expression} from ${base} ${tz}`).toEqual(expected);
        }
      });
});

describe('what systemd rejects, snapkeep rejects (with a reason)', () => {
  for (const expression of rejected)
    it(JSON.stringify(expression), async () => {
      expect(await systemdElapses(expression, baseTimes[0]!, 'UTC')).toBe('rejected');
      const parsed = parseCalendar(expression);
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.error.length).toBeGreaterThan(5);
    });
});
