// runJoinedByFifo's follow-up with real processes: a command the producer's counting shell runs
// after the producer ended well (how a local transfer reads its stream's metadata without a
// process start of its own). The count must stay exactly the producer's, the follow-up's stdout
// must reach its consumer alone, and every way it can go wrong must say what happened.
import { access, readFile, stat, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runJoinedByFifo, type CommandSpec } from '../../src/exec/command.js';
import { useCleanups } from '../helpers/cleanups.js';

const cleanups = useCleanups();

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

async function collected(stdout: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdout) chunks.push(chunk);
  return Buffer.concat(chunks).toString('latin1');
}

/** A producer that writes `data` into the FIFO (and `noise` on its stdout), a consumer that copies it to `out`. */
async function fixture(name: string, bytes = 300_000) {
  const directory = await cleanups.tempDir(name);
  const data = join(directory, 'data');
  const out = join(directory, 'out');
  await writeFile(data, randomBytes(bytes));
  const producer = (fifo: string, script = 'echo noise; cat "$1" > "$2"'): CommandSpec => ({
    file: 'sh',
    args: ['-c', script, 'sh', data, fifo],
  });
  const consumer = (fifo: string): CommandSpec => ({
    file: 'sh',
    args: ['-c', 'cat "$1" > "$2"', 'sh', fifo, out],
  });
  return { directory, data, out, producer, consumer };
}

describe('runJoinedByFifo with a follow-up', () => {
  it('counts exactly what the producer wrote, and hands the follow-up its own stdout alone', async () => {
    const { data, out, producer, consumer } = await fixture('follow-up-ok');
    const result = await runJoinedByFifo(
      (fifo) => [producer(fifo), consumer(fifo)],
      {},
      {
        // 1 MB of its own: none of it may be counted as the stream.
        spec: { file: 'sh', args: ['-c', 'printf meta; head -c 1000000 /dev/zero; echo warning >&2'] },
        consume: collected,
      },
    );
    const size = (await stat(data)).size;
    expect((await stat(out)).size).toBe(size);
    // The producer also wrote "noise\n" (6 bytes) on its stdout: counted (it wrote them), not consumed.
    expect(result.bytes).toBe(size + 6);
    expect(result.stages.map((stage) => stage.exitCode)).toEqual([0, 0]);
    expect(result.then?.result.exitCode).toBe(0);
    expect(result.then?.consumed).toBe(`meta${'\0'.repeat(1_000_000)}`);
    // Its stderr is its own, not the producer's.
    expect(result.then?.result.stderr).toBe('warning\n');
    expect(result.stages[0]!.stderr).toBe('');
  });

  it('is not run when the producer fails, and says so', async () => {
    const { directory, producer, consumer } = await fixture('follow-up-not-run');
    const marker = join(directory, 'ran');
    const result = await runJoinedByFifo(
      (fifo) => [producer(fifo, 'cat "$1" > "$2"; exit 3'), consumer(fifo)],
      {},
      { spec: { file: 'sh', args: ['-c', ': > "$1"', 'sh', marker] }, consume: collected },
    );
    expect(result.stages[0]!.exitCode).toBe(3);
    expect(await exists(marker)).toBe(false);
    expect(result.then?.result.exitCode).toBeNull();
    expect(result.then?.result.stderr).toMatch(/not run/);
    expect(result.then?.consumed).toBeUndefined();
  });

  it("a follow-up that fails: its exit code and stderr, nothing consumed, the producer's result untouched", async () => {
    const { data, producer, consumer } = await fixture('follow-up-fails');
    const result = await runJoinedByFifo(
      (fifo) => [producer(fifo), consumer(fifo)],
      {},
      {
        spec: { file: 'sh', args: ['-c', 'printf partial; echo bad >&2; exit 5'] },
        consume: collected,
      },
    );
    expect(result.stages.map((stage) => stage.exitCode)).toEqual([0, 0]);
    expect(result.bytes).toBe((await stat(data)).size + 6);
    expect(result.then?.result).toMatchObject({ exitCode: 5, stderr: 'bad\n' });
    expect(result.then?.consumed).toBeUndefined();
  });

  it('a follow-up whose stderr does not end a line still reports its status', async () => {
    const { producer, consumer } = await fixture('follow-up-no-newline');
    const result = await runJoinedByFifo(
      (fifo) => [producer(fifo), consumer(fifo)],
      {},
      {
        spec: { file: 'sh', args: ['-c', 'printf meta; printf "then 0" >&2; exit 0'] },
        consume: collected,
      },
    );
    expect(result.then?.result).toMatchObject({ exitCode: 0, stderr: 'then 0' });
    expect(result.then?.consumed).toBe('meta');
  });

  it('a follow-up that is not installed fails as a shell says (127)', async () => {
    const { producer, consumer } = await fixture('follow-up-missing');
    const result = await runJoinedByFifo(
      (fifo) => [producer(fifo), consumer(fifo)],
      {},
      {
        spec: { file: 'snapkeep-no-such-command', args: [] },
        consume: collected,
      },
    );
    expect(result.stages.map((stage) => stage.exitCode)).toEqual([0, 0]);
    expect(result.then?.result.exitCode).not.toBe(0);
    expect(result.then?.consumed).toBeUndefined();
  });

  it("a consumer that throws while the follow-up writes: its error is the follow-up's, the transfer's result stands, nothing is left running", async () => {
    const { directory, producer, consumer } = await fixture('follow-up-throws');
    const pidFile = join(directory, 'pid');
    const run = runJoinedByFifo(
      (fifo) => [producer(fifo), consumer(fifo)],
      {},
      {
        // Writes for ever unless its reader goes away.
        spec: { file: 'sh', args: ['-c', 'echo $$ > "$1"; exec cat /dev/zero', 'sh', pidFile] },
        consume: async (stdout) => {
          for await (const chunk of stdout) if (chunk.length > 0) throw new Error('not a send stream');
          return 'never';
        },
      },
    );
    const result = await run;
    expect(result.stages.map((stage) => stage.exitCode)).toEqual([0, 0]);
    expect(result.then?.result).toMatchObject({ exitCode: null, stderr: 'not a send stream' });
    expect(result.then?.consumed).toBeUndefined();
    // The pipeline has ended (awaited above), so its follow-up has too.
    const pid = Number((await readFile(pidFile, 'utf8')).trim());
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
