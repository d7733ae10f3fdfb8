// Time spans as systemd.time(7) writes them ("90s", "5min", "1h 30m", "2d"), in whole seconds;
// and `every:` intervals turned into the calendar event that elapses on those boundaries.

export type SpanParse = { ok: true; seconds: number } | { ok: false; error: string };

const unitSeconds: Readonly<Record<string, number>> = {
  s: 1,
  sec: 1,
  second: 1,
  seconds: 1,
  m: 60,
  min: 60,
  minute: 60,
  minutes: 60,
  h: 3600,
  hr: 3600,
  hour: 3600,
  hours: 3600,
  d: 86400,
  day: 86400,
  days: 86400,
  w: 604800,
  week: 604800,
  weeks: 604800,
};

export const spanExpected = 'a time span like 90s, 5min, 4h, 1h 30min or 2d (units s, min, h, d, w)';

export function parseTimeSpan(text: string): SpanParse {
  const compact = text.trim();
  if (compact === '') return { ok: false, error: 'the time span is empty' };
  let seconds = 0;
  const pattern = /(\d+)\s*([a-z]+)\s*/gy;
  let consumed = 0;
  for (let match = pattern.exec(compact); match; match = pattern.exec(compact)) {
    const unit = unitSeconds[match[2]!];
    if (unit === undefined) return { ok: false, error: `"${match[2]}" is not a time unit` };
    seconds += Number(match[1]) * unit;
    consumed = pattern.lastIndex;
  }
  if (consumed !== compact.length) return { ok: false, error: `"${text}" is not a time span` };
  return { ok: true, seconds };
}

/** "4h" → "*-*-* 00/4:00:00": an interval that divides the hour or the day, as a calendar event. */
export function everyToCalendar(text: string): { ok: true; calendar: string } | { ok: false; error: string } {
  const parsed = parseTimeSpan(text);
  if (!parsed.ok) return parsed;
  const { seconds } = parsed;
  const expected =
    'an interval that divides an hour or a day evenly (1min … 30min, 1h, 2h, 3h, 4h, 6h, 8h, 12h), or 1d or 1w';
  if (seconds === 86400) return { ok: true, calendar: 'daily' };
  if (seconds === 604800) return { ok: true, calendar: 'weekly' };
  if (seconds > 0 && seconds % 3600 === 0 && 24 % (seconds / 3600) === 0)
    return { ok: true, calendar: seconds === 3600 ? 'hourly' : `*-*-* 00/${seconds / 3600}:00:00` };
  if (seconds > 0 && seconds % 60 === 0 && 60 % (seconds / 60) === 0)
    return { ok: true, calendar: seconds === 60 ? 'minutely' : `*-*-* *:00/${seconds / 60}:00` };
  return { ok: false, error: `every ${text} does not divide an hour or a day; expected ${expected}` };
}

/** Seconds as a short span for people and for systemd ("90s" → "1min 30s"). */
export function formatTimeSpan(seconds: number): string {
  const parts: string[] = [];
  let rest = seconds;
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['min', 60],
  ] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0 || parts.length === 0) parts.push(`${rest}s`);
  return parts.join(' ');
}
