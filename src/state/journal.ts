// The append-only journal: one JSON object per line for every action and its outcome. `status`
// (and later alerts, metrics and the dashboard) read it instead of re-running tools.
//
// Two ways a line is written. A run that holds the lock writes it itself, synchronously
// (appendFileSync): no compaction can run meanwhile (only the lock's holder compacts, before its
// own first line). Everything else goes through a JournalWriter: a run without the lock
// (`snapshot --deadline`), a line written after the lock is let go (`observer-failed`), and every
// line of a run under a deadline. Its lines are written by processes, one at a time and in order,
// each holding a shared flock(2) on the journal (see JournalWriter), so this process never waits
// on the state directory and a compaction never loses them.
import { appendFileSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { maskSecrets, runCommand } from '../exec/command.js';
import {
  journalVersion,
  parseJournal,
  type EventFields,
  type JournalEvent,
  type WritableEventName,
} from './journal-events.js';

/** Any line, as readers that only look at a few fields see it (every JournalEvent is one). */
export interface JournalEntry {
  readonly time: string;
  readonly run: string;
  readonly event: string;
  readonly [field: string]: unknown;
}

export const journalFileName = 'journal.ndjson';

/** What a line that has not been written was, for a person: `run-start`, `step create-snapshot home.…`. */
function describeLine(entry: Record<string, unknown>): string {
  const detail = [entry.kind, entry.name ?? entry.subvolume].filter((part) => typeof part === 'string');
  return [String(entry.event), ...detail].join(' ');
}

/**
 * Lines written by processes instead of this process's own file calls: a write on a frozen or
 * hung filesystem waits in the kernel, uninterruptibly, and a Node thread that waits there keeps
 * the whole process from exiting (the kernel reaps a process only once all its threads are out),
 * however early `snapshot --deadline` wants to return. A process that waits can be left behind.
 *
 * Each write is `flock --shared --no-fork <journal> dd …`: dd appends the bytes with one write(2)
 * (O_APPEND, a block as large as the bytes), holding a shared lock on the journal, which
 * compaction takes exclusively while it moves the journal aside (journal-compaction.ts), so a
 * line lands either in what compaction carries over or in the new journal, never in the archive
 * alone. Lines are written in the order given; what is queued while a write runs goes out
 * together in the next one.
 */
export class JournalWriter {
  readonly path: string;
  private readonly queued: { text: string; what: string }[] = [];
  private inFlight: readonly { what: string }[] = [];
  private readonly failures: string[] = [];
  private draining: Promise<void> | undefined;

  constructor(stateDir: string) {
    this.path = join(stateDir, journalFileName);
  }

  /** Queue a line (with its newline); never waits. */
  write(text: string, what: string): void {
    this.queued.push({ text, what });
    this.draining ??= this.drain();
  }

  private async drain(): Promise<void> {
    // The first write starts on the next turn: lines queued together (a run's end) go together.
    await Promise.resolve();
    for (;;) {
      const batch = this.queued.splice(0);
      if (batch.length === 0) {
        this.draining = undefined; // in the same turn as the check: a later write starts anew
        return;
      }
      this.inFlight = batch;
      const text = batch.map((line) => line.text).join('');
      const result = await runCommand({
        file: 'flock',
        args: [
          '--shared',
          '--no-fork',
          this.path,
          'dd',
          `of=${this.path}`,
          'oflag=append',
          'conv=notrunc',
          `bs=${Buffer.byteLength(text)}`,
          'count=1',
          'iflag=fullblock',
          'status=none',
        ],
        input: text,
      }).catch((error: unknown) => ({
        exitCode: null,
        signal: null,
        stderr: error instanceof Error ? error.message : String(error),
      }));
      this.inFlight = [];
      if (result.exitCode !== 0)
        this.failures.push(
          `${batch.map((line) => line.what).join(', ')} (${
            result.signal
              ? `killed by ${result.signal}`
              : result.stderr.trim() || `exit code ${result.exitCode}`
          })`,
        );
    }
  }

  /**
   * Wait until every queued line is written, or until `until` (epoch ms) at the latest. Returns
   * what was not written: the lines still waiting for the state directory, and failed writes.
   */
  async settle(until = Number.POSITIVE_INFINITY): Promise<{ pending: string[]; failed: string[] }> {
    let timer: NodeJS.Timeout | undefined;
    let late = false;
    const deadline = new Promise<void>((resolve) => {
      if (Number.isFinite(until))
        timer = setTimeout(
          () => {
            late = true;
            resolve();
          },
          Math.max(0, until - Date.now()),
        );
    });
    while (this.draining && !late) await Promise.race([this.draining, deadline]);
    clearTimeout(timer);
    return {
      pending: [...this.inFlight, ...this.queued].map((line) => line.what),
      failed: [...this.failures],
    };
  }
}

export class Journal {
  readonly path: string;
  private ready = false;
  private closed = false;

  /** `writer`: the lines go through it (see the top of this file); else they are written here. */
  constructor(
    private readonly stateDir: string,
    readonly run: string,
    private readonly writer?: JournalWriter,
  ) {
    this.path = join(stateDir, journalFileName);
  }

  /**
   * Written before it returns, synchronously: a line is a few dozen microseconds of the main
   * thread, less than the three thread-pool round trips of an async append, which a run waits
   * for between its steps; and entries land in the order they were made. Through a writer it is
   * queued and the run goes on at once (the writer's settle waits for it).
   */
  append<Name extends WritableEventName>(event: Name, fields: EventFields<Name>): Promise<void> {
    try {
      this.appendNow(event, fields);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  }

  /** append, for callers that cannot wait (an interrupt on its way out); throws on failure. */
  appendNow<Name extends WritableEventName>(event: Name, fields: EventFields<Name>): void {
    // A run's end is its last line: what an interrupted run's steps report on their way down is
    // not written after it.
    if (this.closed) return;
    // The fields never replace the line's own version, run id and event.
    const entry = Object.assign(
      { v: journalVersion, time: new Date().toISOString(), run: this.run, event },
      fields,
      { v: journalVersion, run: this.run, event },
    );
    const line = `${maskSecrets(JSON.stringify(entry))}\n`;
    if (this.writer) {
      this.writer.write(line, describeLine(entry));
      return;
    }
    if (!this.ready) mkdirSync(this.stateDir, { recursive: true });
    this.ready = true;
    // One write per line with O_APPEND: concurrent writers never interleave within a line.
    appendFileSync(this.path, line);
  }

  /** Later appends are dropped (the run lifecycle closes a run's journal after its end). */
  close(): void {
    this.closed = true;
  }
}

/** The journal's events in the order written; lines that are not valid events are skipped. */
export async function readJournal(stateDir: string): Promise<JournalEvent[]> {
  let text: string;
  try {
    text = await readFile(join(stateDir, journalFileName), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  // A torn last line (power loss mid-write) must not hide the rest of the history.
  return parseJournal(text).events;
}

export function newRunId(now = new Date()): string {
  return `${now.toISOString().replace(/[-:.]/g, '').slice(0, 15)}-${process.pid}`;
}
