// The append-only journal: one JSON object per line for every action and its outcome. `status`
// (and later alerts, metrics and the dashboard) read it instead of re-running tools.
import { appendFileSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { maskSecrets } from '../exec/command.js';
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

export class Journal {
  readonly path: string;
  private ready = false;
  private closed = false;

  constructor(
    private readonly stateDir: string,
    readonly run: string,
  ) {
    this.path = join(stateDir, journalFileName);
  }

  /**
   * Written before it returns, synchronously: a line is a few dozen microseconds of the main
   * thread, less than the three thread-pool round trips of an async append, which a run waits
   * for between its steps; and entries land in the order they were made.
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
    if (!this.ready) mkdirSync(this.stateDir, { recursive: true });
    this.ready = true;
    // The fields never replace the line's own version, run id and event.
    const entry = Object.assign(
      { v: journalVersion, time: new Date().toISOString(), run: this.run, event },
      fields,
      { v: journalVersion, run: this.run, event },
    );
    // One write per line with O_APPEND: concurrent writers never interleave within a line.
    appendFileSync(this.path, `${maskSecrets(JSON.stringify(entry))}\n`);
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
