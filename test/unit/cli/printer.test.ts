// The printer: one typed event, text or NDJSON. Text lines only without --json and --quiet;
// stderr lines always; every event one masked JSON line under --json; a progress line only on a
// TTY, erased before the next output.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { registerSecret } from '../../../src/exec/command.js';
import { createOutput, setQuiet } from '../../../src/cli/output.js';
import { createPrinter, toStderr, type TextLine } from '../../../src/cli/printer.js';

type Event =
  | { readonly type: 'done'; readonly what: string; readonly ok: boolean }
  | { readonly type: 'quiet-one' }
  | { readonly type: 'moving'; readonly bytes: number };

const render = (event: Event): readonly TextLine[] => {
  switch (event.type) {
    case 'done':
      return event.ok ? [`ok   ${event.what}`] : [`FAIL ${event.what}`, toStderr(`ERROR: ${event.what}`)];
    case 'quiet-one':
      return [];
    case 'moving':
      return [{ progress: { label: 'moving', bytes: event.bytes, elapsedMs: 1000 } }];
  }
};

let stdout: string[];
let stderr: string[];
const tty = process.stderr.isTTY;

beforeEach(() => {
  stdout = [];
  stderr = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout.push(String(chunk));
    return true;
  });
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr.push(String(chunk));
    return true;
  });
});

afterEach(() => {
  vi.restoreAllMocks();
  setQuiet(false);
  process.stderr.isTTY = tty;
});

describe('createPrinter', () => {
  it('text: the rendered lines on stdout, stderr lines on stderr, nothing for an event without text', () => {
    const print = createPrinter(createOutput(false), render);
    print({ type: 'done', what: 'a', ok: true });
    print({ type: 'quiet-one' });
    print({ type: 'done', what: 'b', ok: false });
    expect(stdout).toEqual(['ok   a\n', 'FAIL b\n']);
    expect(stderr).toEqual(['ERROR: b\n']);
  });

  it('--json: every event one line {type, ...fields}, no text; stderr lines stay', () => {
    const print = createPrinter(createOutput(true), render);
    print({ type: 'done', what: 'a', ok: true });
    print({ type: 'quiet-one' });
    print({ type: 'done', what: 'b', ok: false });
    print({ type: 'moving', bytes: 5 });
    expect(stdout.map((line) => JSON.parse(line) as unknown)).toEqual([
      { type: 'done', what: 'a', ok: true },
      { type: 'quiet-one' },
      { type: 'done', what: 'b', ok: false },
      { type: 'moving', bytes: 5 },
    ]);
    expect(stderr).toEqual(['ERROR: b\n']);
  });

  it('--quiet: no text on stdout, the errors still on stderr', () => {
    setQuiet(true);
    const print = createPrinter(createOutput(false), render);
    print({ type: 'done', what: 'a', ok: true });
    print({ type: 'done', what: 'b', ok: false });
    expect(stdout).toEqual([]);
    expect(stderr).toEqual(['ERROR: b\n']);
  });

  it('masks secrets in text and JSON alike', () => {
    registerSecret('printer-test-secret');
    createPrinter(createOutput(false), render)({ type: 'done', what: 'printer-test-secret', ok: false });
    createPrinter(createOutput(true), render)({ type: 'done', what: 'printer-test-secret', ok: true });
    expect([...stdout, ...stderr].join('')).not.toContain('printer-test-secret');
    expect(stdout).toHaveLength(2);
  });

  it('a progress line on a TTY is rewritten in place and erased before the next line', () => {
    process.stderr.isTTY = true;
    const print = createPrinter(createOutput(false), render);
    print({ type: 'moving', bytes: 1024 });
    print({ type: 'moving', bytes: 2048 });
    print({ type: 'done', what: 'a', ok: true });
    // Drawn, erased (carriage return, erase line) and drawn again; erased before the outcome.
    expect(stderr).toEqual([
      'moving: 1.0 KiB at 1.0 KiB/s',
      '\r\x1b[K',
      'moving: 2.0 KiB at 2.0 KiB/s',
      '\r\x1b[K',
    ]);
    expect(stdout).toEqual(['ok   a\n']);
  });

  it('parallel transfers: another event erases the lines, each goes only with its ProgressEnd', () => {
    process.stderr.isTTY = true;
    type Parallel =
      | { readonly type: 'moving'; readonly label: string; readonly bytes: number }
      | { readonly type: 'note' }
      | { readonly type: 'ended'; readonly label: string };
    const print = createPrinter<Parallel>(
      createOutput(false),
      (event) =>
        event.type === 'moving'
          ? [{ progress: { label: event.label, bytes: event.bytes, bytesPerSecond: event.bytes } }]
          : event.type === 'note'
            ? ['note']
            : [{ progressEnd: event.label }, `ok   ${event.label}`],
      { parallelTransfers: true },
    );
    print({ type: 'moving', label: 'a', bytes: 1024 });
    print({ type: 'moving', label: 'b', bytes: 2048 });
    print({ type: 'note' });
    print({ type: 'moving', label: 'b', bytes: 4096 });
    print({ type: 'ended', label: 'a' });
    print({ type: 'moving', label: 'b', bytes: 8192 });
    expect(stderr).toEqual([
      'a: 1.0 KiB at 1.0 KiB/s',
      '\r\x1b[K',
      'a: 1.0 KiB at 1.0 KiB/s\nb: 2.0 KiB at 2.0 KiB/s',
      '\r\x1b[K\x1b[1A\x1b[K',
      // After the note both are drawn again: a still runs.
      'a: 1.0 KiB at 1.0 KiB/s\nb: 4.0 KiB at 4.0 KiB/s',
      '\r\x1b[K\x1b[1A\x1b[K',
      // a ended: only b is drawn.
      'b: 8.0 KiB at 8.0 KiB/s',
    ]);
    expect(stdout).toEqual(['note\n', 'ok   a\n']);
  });

  it('no progress line off a TTY', () => {
    process.stderr.isTTY = false;
    createPrinter(createOutput(false), render)({ type: 'moving', bytes: 1024 });
    expect([...stdout, ...stderr]).toEqual([]);
  });
});
