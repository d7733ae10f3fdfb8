// `snapkeep retention preview`: flag checking, per-basename scheduling, input order, output.
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  illegalTimestampReason,
  notSnapshotNameReason,
  parseNow,
  parseRetentionPolicy,
  previewRetention,
  runRetentionPreview,
  splitNames,
} from '../../../src/cli/retention-command.js';
import { UsageError } from '../../../src/errors.js';
import { noRuleMatchedReason } from '../../../src/retention/btrbk-schedule.js';
import { useTimeZone } from '../../helpers/time-zone.js';

useTimeZone('UTC');
afterEach(() => {
  vi.restoreAllMocks();
});

const flags = { preserve: '24h 7d', preserveMin: 'no', dayOfWeek: 'sunday', hourOfDay: '0' };

function usageMessage(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as UsageError).message;
  }
  throw new Error('expected a UsageError');
}

describe('flags', () => {
  it('parses a full policy', () => {
    expect(
      parseRetentionPolicy({
        preserve: '48h *d 4W',
        preserveMin: '2d',
        dayOfWeek: 'Monday',
        hourOfDay: '23',
      }),
    ).toEqual({
      matrix: { h: 48, d: 'all', w: 4 },
      minimum: { kind: 'within', count: 2, unit: 'd' },
      dayOfWeek: 'monday',
      hourOfDay: 23,
    });
    expect(parseRetentionPolicy({ ...flags, preserve: 'no', preserveMin: 'latest' }).matrix).toEqual({});
  });

  it.each([
    [{ preserve: '24x' }, /--preserve "24x".*24h 7d 4w/],
    [{ preserve: '24h 7d 2h' }, /--preserve "24h 7d 2h".*more than once/],
    [{ preserve: '00h 7d' }, /--preserve "00h 7d".*"00h" is ambiguous.*0h/],
    [{ preserveMin: 'forever' }, /--preserve-min "forever".*all, latest, no/],
    [{ dayOfWeek: 'funday' }, /--day-of-week "funday".*sunday, monday/],
    [{ hourOfDay: '24' }, /--hour-of-day "24".*0 to 23/],
    [{ hourOfDay: '-1' }, /--hour-of-day "-1".*0 to 23/],
    [{ hourOfDay: 'noon' }, /--hour-of-day "noon".*0 to 23/],
  ])('rejects %j naming the flag, the value and what is expected', (bad, message) => {
    expect(usageMessage(() => parseRetentionPolicy({ ...flags, ...bad }))).toMatch(message);
  });

  it('parses --now as local time and rejects anything else', () => {
    process.env.TZ = 'Europe/Berlin';
    expect(parseNow('2024-07-01T12:30:00').toISOString()).toBe('2024-07-01T10:30:00.000Z');
    const now = new Date('2020-01-01T00:00:00Z');
    expect(parseNow(undefined, () => now)).toBe(now);
    for (const bad of [
      '2024-02-30T00:00:00',
      '2024-13-01T00:00:00',
      '2024-01-01T24:00:00',
      'yesterday',
      '2024-01-01',
    ]) {
      expect(usageMessage(() => parseNow(bad))).toMatch(new RegExp(`--now "${bad}".*YYYY-MM-DDThh:mm:ss`));
    }
  });
});

describe('previewRetention', () => {
  const now = parseNow('2024-03-10T12:30:00');
  const policy = parseRetentionPolicy({ ...flags, preserve: '2h' });

  it('answers every line in input order and schedules each basename on its own', () => {
    const names = [
      'b.20240310T1000',
      'a.20240310T1030',
      'README',
      'a.20240310T1000',
      'a.20240310T1100',
      'b.20240310T1010',
      'a.20240230T1000',
      'a.20240310T1000',
    ];
    expect(previewRetention(names, policy, now)).toEqual([
      { name: 'b.20240310T1000', action: 'keep', reason: 'preserve hourly: first of hour, 2 hours ago' },
      { name: 'a.20240310T1030', action: 'delete', reason: noRuleMatchedReason },
      { name: 'README', action: 'keep', reason: notSnapshotNameReason },
      { name: 'a.20240310T1000', action: 'keep', reason: 'preserve hourly: first of hour, 2 hours ago' },
      { name: 'a.20240310T1100', action: 'keep', reason: 'preserve hourly: first of hour, 1 hour ago' },
      { name: 'b.20240310T1010', action: 'delete', reason: noRuleMatchedReason },
      { name: 'a.20240230T1000', action: 'keep', reason: illegalTimestampReason },
      { name: 'a.20240310T1000', action: 'keep', reason: 'preserve hourly: first of hour, 2 hours ago' },
    ]);
  });

  it('never deletes names in the future (prune semantics)', () => {
    const noMatrix = parseRetentionPolicy({ ...flags, preserve: 'no' });
    const verdicts = previewRetention(['a.20240310T1500', 'a.20300101', 'a.20240310T1245'], noMatrix, now);
    expect(verdicts).toEqual([
      { name: 'a.20240310T1500', action: 'keep', reason: 'preserve forced: 3 hours in the future' },
      { name: 'a.20300101', action: 'keep', reason: 'preserve forced: 50940 hours in the future' },
      // Later in the current hour is not "in the future" for btrbk (delta_hours is 0).
      { name: 'a.20240310T1245', action: 'delete', reason: noRuleMatchedReason },
    ]);
    // A matching rule replaces the "forced" reason (negative deltas are within every count).
    expect(previewRetention(['a.20240310T1500'], parseRetentionPolicy(flags), now)[0]!.reason).toBe(
      'preserve daily: first of day, 0 days ago, 15h after 00:00',
    );
  });

  it('does not treat names btrbk could not manage as snapshots', () => {
    const verdicts = previewRetention(['has space.20240310T1000', 'a/b.20240310T1000'], policy, now);
    expect(verdicts.every((verdict) => verdict.reason === notSnapshotNameReason)).toBe(true);
  });

  it('splits input into trimmed non-empty lines', () => {
    expect(splitNames(' a.20240101 \r\n\n\tb.20240101\n  \n')).toEqual(['a.20240101', 'b.20240101']);
  });
});

describe('runRetentionPreview', () => {
  const input = 'x.20240310T1000\nx.20240310T1030\n\nnotes.txt\n';
  const options = { ...flags, preserve: '2h', now: '2024-03-10T12:30:00' };

  function capture(): string[] {
    const written: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    return written;
  }

  it('prints one NDJSON object per name with --json', async () => {
    const written = capture();
    expect(await runRetentionPreview({ ...options, json: true }, input)).toBe(0);
    expect(
      written
        .join('')
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as unknown),
    ).toEqual([
      {
        type: 'retention',
        name: 'x.20240310T1000',
        action: 'keep',
        reason: 'preserve hourly: first of hour, 2 hours ago',
      },
      { type: 'retention', name: 'x.20240310T1030', action: 'delete', reason: noRuleMatchedReason },
      { type: 'retention', name: 'notes.txt', action: 'keep', reason: notSnapshotNameReason },
    ]);
  });

  it('prints an aligned table with the policy and a summary without --json', async () => {
    const written = capture();
    expect(await runRetentionPreview({ ...options, json: false }, input)).toBe(0);
    const text = written.join('');
    expect(text).toContain('Policy: preserve 2h, minimum no; weeks start on sunday, days at 00:00');
    expect(text).toContain('now 2024-03-10T12:30:00 (UTC)');
    expect(text).toMatch(/^NAME {13}ACTION {2}REASON$/m);
    expect(text).toMatch(/^x\.20240310T1030 {2}delete {2}no preserve rule matched$/m);
    expect(text).toContain('2 keep, 1 delete (1 of the kept lines are not snapshot names)');
  });

  it('checks flags before reading input', async () => {
    await expect(runRetentionPreview({ ...options, hourOfDay: '25', json: true }, input)).rejects.toThrow(
      /--hour-of-day "25"/,
    );
  });
});
