// What the derived status says about notifications and refused runs: each channel's last
// delivery (from `notification` lines, kept through journal compaction), a run the lock refused
// among the failures, and how many days a space trend is from.
import { appendFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { deriveStatus } from '../../../src/state/derive-status.js';
import { compactJournal } from '../../../src/state/journal-compaction.js';
import type { JournalEvent } from '../../../src/state/journal-events.js';
import { readJournal } from '../../../src/state/journal.js';

const at = (minutes: number): string => new Date(Date.UTC(2026, 10, 30) + minutes * 60_000).toISOString();
const sent = (minutes: number, channel: string, ok: boolean, error?: string): JournalEvent => ({
  v: 1,
  time: at(minutes),
  run: `n${minutes}`,
  event: 'notification',
  channel,
  channelType: 'email',
  ok,
  kinds: ['failure'],
  trigger: 'run',
  ...(error ? { error } : {}),
});

const derive = (journal: readonly JournalEvent[]) =>
  deriveStatus(journal, () => ({}), {}, new Date(at(10_000)), { jobs: [], probe: () => false });

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('notifications and refusals in the derived status', () => {
  it("each channel's last delivery: failing until one goes through, the last failure remembered", () => {
    const journal = [
      sent(0, 'mail', true),
      sent(1, 'mail', false, 'ECONNREFUSED'),
      sent(2, 'hook', false, 'HTTP 500'),
    ];
    expect(derive(journal).channels).toEqual({
      mail: {
        channelType: 'email',
        lastAttempt: { time: at(1), ok: false, error: 'ECONNREFUSED' },
        lastSuccess: at(0),
        lastFailure: { time: at(1), error: 'ECONNREFUSED' },
        failing: true,
      },
      hook: {
        channelType: 'email',
        lastAttempt: { time: at(2), ok: false, error: 'HTTP 500' },
        lastFailure: { time: at(2), error: 'HTTP 500' },
        failing: true,
      },
    });
    expect(derive([...journal, sent(3, 'mail', true)]).channels.mail).toMatchObject({
      failing: false,
      lastSuccess: at(3),
      lastFailure: { time: at(1) },
    });
  });

  it('a compacted journal still knows the channels', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'snapkeep-notify-status-'));
    dirs.push(dir);
    const lines = [sent(0, 'mail', true), sent(1, 'mail', false, 'timeout')];
    appendFileSync(join(dir, 'journal.ndjson'), lines.map((line) => `${JSON.stringify(line)}\n`).join(''));
    expect(await compactJournal(dir, { maxBytes: 1, probe: () => false })).toMatchObject({ compacted: true });
    expect(derive(await readJournal(dir)).channels.mail).toMatchObject({ failing: true, lastSuccess: at(0) });
  });

  it('a refused run is a failure of its command', () => {
    const refused = {
      v: 1,
      time: at(5),
      run: 'x',
      event: 'run-refused',
      command: 'run',
      exitCode: 11,
      error: 'another snapkeep run holds the lock /var/lib/snapkeep/snapkeep.lock',
    } as JournalEvent;
    expect(derive([refused]).failures).toEqual([
      {
        time: at(5),
        what: 'snapkeep run',
        error: 'not run: another snapkeep run holds the lock /var/lib/snapkeep/snapkeep.lock',
      },
    ]);
  });

  it('the days a space trend is from', () => {
    const end = (minutes: number, usedBytes: number): JournalEvent => ({
      v: 1,
      time: at(minutes),
      run: `r${minutes}`,
      event: 'run-end',
      command: 'run',
      exitCode: 0,
      space: [{ target: 'nas', path: '/mnt/nas', usedBytes, freeBytes: 1000, sizeBytes: 10_000 }],
    });
    const [space] = derive([end(0, 100), end(2 * 1440, 300)]).space;
    expect(space).toMatchObject({ bytesPerDay: 100, fullInDays: 10, sampleDays: 2 });
  });
});
