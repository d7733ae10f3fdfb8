// runGuardedPipe with real processes: the consumer sees the end of its input only when the
// producer succeeded (what keeps a failed pg_dump from becoming a good-looking restic snapshot).
import { access, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeFifoPool, runGuardedPipe, type CommandSpec } from '../../src/exec/command.js';

let directory = '';
beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'snapkeep-guarded-'));
});
const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

/** Waits for an event (polled); the test's own timeout bounds it. */
async function until(happened: () => Promise<boolean>): Promise<void> {
  while (!(await happened())) await new Promise((resolve) => setTimeout(resolve, 10));
}

afterAll(async () => {
  await closeFifoPool();
  if (directory) await rm(directory, { recursive: true, force: true });
});

/**
 * Reads its input to the end, then writes `name.done`: the marker exists only after a clean end.
 * (Node, not a shell: an interrupt must stop it, as it stops restic.)
 */
const consumer = (name: string): CommandSpec => ({
  file: process.execPath,
  args: [
    '-e',
    "process.stdin.resume(); process.stdin.on('end', () => require('fs').writeFileSync(process.argv[1], ''))",
    join(directory, `${name}.done`),
  ],
});

describe('runGuardedPipe', () => {
  it('a producer that succeeds: the consumer gets the whole stream and its end', async () => {
    const result = await runGuardedPipe(
      { file: 'head', args: ['-c', '100000', '/dev/zero'] },
      consumer('ok'),
    );
    expect([result.producer.exitCode, result.consumer.exitCode]).toEqual([0, 0]);
    expect(await readdir(directory)).toContain('ok.done');
  });

  it('a producer that fails: the consumer is interrupted, never sees an end', async () => {
    const result = await runGuardedPipe({ file: 'cat', args: ['/nonexistent/dump'] }, consumer('failed'));
    expect(result.producer.exitCode).not.toBe(0);
    expect(result.consumer.exitCode).not.toBe(0);
    expect(await readdir(directory)).not.toContain('failed.done');
  });

  it('a producer that cannot even start: the error says so, and the consumer never sees an end', async () => {
    await expect(
      runGuardedPipe({ file: 'no-such-dump-program', args: [] }, consumer('missing')),
    ).rejects.toThrow(/no-such-dump-program: command not found/);
    expect(await readdir(directory)).not.toContain('missing.done');
  });

  it('a producer whose argv comes later: the consumer starts at once, the producer when its argv is ready, and the whole stream gets through', async () => {
    const consumerStarted = join(directory, 'late.consumer-start');
    const producerSaw = join(directory, 'late.producer-saw');
    // The argv is ready only once the consumer has started: had the consumer waited for it, this
    // would never end (bounded by the test's timeout). No clock decides anything.
    const later = async (): Promise<CommandSpec> => {
      await until(() => exists(consumerStarted));
      return {
        file: 'sh',
        args: ['-c', 'ls -- "$2" > "$1"; head -c 100000 /dev/zero', 'sh', producerSaw, consumerStarted],
      };
    };
    const countingConsumer: CommandSpec = {
      file: process.execPath,
      args: [
        '-e',
        "const fs = require('fs'); fs.writeFileSync(process.argv[2], ''); let n = 0; process.stdin.on('data', (d) => { n += d.length; }); process.stdin.on('end', () => fs.writeFileSync(process.argv[1], String(n)))",
        join(directory, 'late.done'),
        consumerStarted,
      ],
    };
    const result = await runGuardedPipe(later, countingConsumer);
    expect([result.producer.exitCode, result.consumer.exitCode]).toEqual([0, 0]);
    expect(await readFile(join(directory, 'late.done'), 'utf8')).toBe('100000');
    // The producer started after the consumer: it found the consumer's mark.
    expect((await readFile(producerSaw, 'utf8')).trim()).toBe(consumerStarted);
  });

  it("a producer that waits for the consumer's ready line starts after it, and the stream still arrives whole", async () => {
    const readyMark = join(directory, 'ready.consumer-ready');
    const producerSaw = join(directory, 'ready.producer-saw');
    // Like restic: busy for a while (opening its repository), then a progress line, then it
    // reads. It leaves a mark just before the line: a producer started after the line finds it.
    const slowReader: CommandSpec = {
      file: process.execPath,
      args: [
        '-e',
        "const fs = require('fs'); setTimeout(() => { fs.writeFileSync(process.argv[2], ''); process.stdout.write('{\"message_type\":\"status\"}\\n'); let n = 0; process.stdin.on('data', (d) => { n += d.length; }); process.stdin.on('end', () => fs.writeFileSync(process.argv[1], String(n))); }, 400)",
        join(directory, 'ready.done'),
        readyMark,
      ],
    };
    const result = await runGuardedPipe(
      async (ready) => {
        await ready;
        return {
          file: 'sh',
          args: ['-c', 'ls -- "$2" > "$1"; head -c 50000 /dev/zero', 'sh', producerSaw, readyMark],
        };
      },
      slowReader,
      { readyLine: /"message_type":"status"/ },
    );
    expect([result.producer.exitCode, result.consumer.exitCode]).toEqual([0, 0]);
    expect(await readFile(join(directory, 'ready.done'), 'utf8')).toBe('50000');
    expect((await readFile(producerSaw, 'utf8')).trim()).toBe(readyMark);
  });

  it('a consumer that cannot start, with a producer waiting for its ready line: the error says so, nothing is left unhandled', async () => {
    await expect(
      runGuardedPipe(
        async (ready) => {
          await ready;
          return { file: 'head', args: ['-c', '1000', '/dev/zero'] };
        },
        { file: 'no-such-restic', args: [] },
        { readyLine: /"message_type":"status"/ },
      ),
    ).rejects.toThrow(/no-such-restic: command not found/);
  });

  it('a producer whose argv cannot be made (the snapshot export failed): the error is thrown, the consumer never sees an end', async () => {
    const failing = async (): Promise<CommandSpec> => {
      await new Promise((resolve) => setTimeout(resolve, 100));
      throw new Error('no snapshot exported by database app');
    };
    await expect(runGuardedPipe(failing, consumer('unmade'))).rejects.toThrow(
      'no snapshot exported by database app',
    );
    expect(await readdir(directory)).not.toContain('unmade.done');
  });
});
