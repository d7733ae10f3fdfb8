// runFanOut with real processes: one producer, tee, and consumers that open their FIFO by path.
import { afterAll, describe, expect, it } from 'vitest';
import { closeFifoPool, runFanOut } from '../../src/exec/command.js';

const tenMiB = 10 * 1024 * 1024;
const countBytes = (fifo: string) => ({ file: 'wc', args: ['-c', fifo] });
const bytesCounted = (stdout: string): number => Number(stdout.trim().split(/\s+/)[0]);

afterAll(closeFifoPool);

describe('runFanOut', () => {
  it('delivers the whole stream to every consumer', async () => {
    const result = await runFanOut({ file: 'head', args: ['-c', String(tenMiB), '/dev/zero'] }, [
      countBytes,
      countBytes,
      countBytes,
    ]);
    expect([result.producer.exitCode, result.tee.exitCode]).toEqual([0, 0]);
    expect(result.consumers.map((consumer) => bytesCounted(consumer.stdout))).toEqual([
      tenMiB,
      tenMiB,
      tenMiB,
    ]);
  });

  it('a consumer that fails before opening its FIFO stops neither tee nor the others', async () => {
    // Without the fix, tee would wait for ever to open the dead consumer's FIFO.
    const result = await runFanOut({ file: 'head', args: ['-c', String(tenMiB), '/dev/zero'] }, [
      countBytes,
      () => ({ file: 'false', args: [] }),
      countBytes,
    ]);
    expect([result.producer.exitCode, result.tee.exitCode]).toEqual([0, 0]);
    expect(result.consumers.map((consumer) => consumer.exitCode)).toEqual([0, 1, 0]);
    expect(bytesCounted(result.consumers[0]!.stdout)).toBe(tenMiB);
    expect(bytesCounted(result.consumers[2]!.stdout)).toBe(tenMiB);
  }, 20_000);

  it('a consumer that stops reading mid-stream stops neither tee nor the others', async () => {
    const result = await runFanOut({ file: 'head', args: ['-c', String(tenMiB), '/dev/zero'] }, [
      (fifo) => ({ file: 'head', args: ['-c', '1', fifo] }),
      countBytes,
    ]);
    expect([result.producer.exitCode, result.tee.exitCode]).toEqual([0, 0]);
    expect(bytesCounted(result.consumers[1]!.stdout)).toBe(tenMiB);
  }, 20_000);

  it('a failed producer is reported as failed, and no consumer is left waiting', async () => {
    const result = await runFanOut({ file: 'cat', args: ['/nonexistent/stream'] }, [countBytes, countBytes]);
    expect(result.producer.exitCode).not.toBe(0);
    expect(result.producer.stderr).toContain('/nonexistent/stream');
  }, 20_000);
});
