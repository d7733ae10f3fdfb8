// runConsumingStdout with real processes: stdout read as it comes (a send stream is parsed so),
// with the command held back while the consumer is busy, and whose failure is whose.
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runConsumingStdout } from '../../src/exec/command.js';
import { useCleanups } from '../helpers/cleanups.js';

const cleanups = useCleanups();

const exists = (path: string): Promise<boolean> =>
  access(path).then(
    () => true,
    () => false,
  );

async function total(stdout: AsyncIterable<Buffer>): Promise<{ bytes: number; chunks: number }> {
  let bytes = 0;
  let chunks = 0;
  for await (const chunk of stdout) {
    bytes += chunk.length;
    chunks++;
  }
  return { bytes, chunks };
}

describe('runConsumingStdout', () => {
  it('delivers all of stdout in chunks, and the command waits while the consumer does', async () => {
    const directory = await cleanups.tempDir('consumed');
    const done = join(directory, 'done');
    const spec = { file: 'sh', args: ['-c', 'head -c 20000000 /dev/zero && : > "$1"', 'sh', done] };
    let finishedWhilePaused: boolean | undefined;
    const { result, consumed } = await runConsumingStdout(spec, async (stdout) => {
      const iterator = stdout[Symbol.asyncIterator]();
      const first = await iterator.next();
      // Not reading: the pipe fills and `head` blocks; nothing buffers the rest meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 500));
      finishedWhilePaused = await exists(done);
      let bytes = (first.value as Buffer).length;
      for (let next = await iterator.next(); !next.done; next = await iterator.next())
        bytes += next.value.length;
      return bytes;
    });
    expect(finishedWhilePaused).toBe(false);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe('');
    expect(consumed).toBe(20_000_000);
    expect(await exists(done)).toBe(true);
  });

  it('a consumer that throws while the command writes stops it, and its error is the answer', async () => {
    // `yes` never ends by itself: the test ends only because it is stopped.
    await expect(
      runConsumingStdout({ file: 'yes', args: ['bad data'] }, async (stdout) => {
        for await (const chunk of stdout) if (chunk.length > 0) throw new Error('malformed at byte 0');
        return 0;
      }),
    ).rejects.toThrow('malformed at byte 0');
  });

  it('a command that fails on its own, its stream cut short: the result says why, nothing consumed', async () => {
    const { result, consumed } = await runConsumingStdout(
      { file: 'sh', args: ['-c', 'printf partial; echo "ERROR: send ioctl failed" >&2; exit 1'] },
      async (stdout) => {
        await total(stdout);
        throw new Error('the stream ends without its end command');
      },
    );
    expect(consumed).toBeUndefined();
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('ERROR: send ioctl failed');
  });

  it("a consumer's error after a stream that ended cleanly is thrown", async () => {
    await expect(
      runConsumingStdout({ file: 'printf', args: ['short'] }, async (stdout) => {
        await total(stdout);
        throw new Error('the stream ends inside a command');
      }),
    ).rejects.toThrow('the stream ends inside a command');
  });

  it('a consumer that stops reading early: the rest is discarded, the command ends', async () => {
    const { result, consumed } = await runConsumingStdout({ file: 'yes', args: [] }, async (stdout) => {
      for await (const chunk of stdout) return chunk.length > 0;
      return false;
    });
    expect(consumed).toBe(true);
    expect(result.exitCode === 0).toBe(false); // SIGPIPE or EPIPE: it did not finish
  });

  it('a command that is not installed is an error that says so', async () => {
    await expect(
      runConsumingStdout({ file: 'snapkeep-no-such-command', args: [] }, (stdout) => total(stdout)),
    ).rejects.toThrow(/command not found/);
  });
});
