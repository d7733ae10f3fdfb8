// Both restic versions the suite runs against are present, and they differ where it matters:
// `backup --stdin-from-command` exists from restic 0.16 on, so 0.18 has it and Debian 12's 0.14 not.
import { describe, expect, it } from 'vitest';
import { runChecked } from '../../src/exec/command.js';
import { resticBinaries } from '../helpers/restic-binaries.js';

describe('restic binaries', () => {
  it('finds Debian 12 restic 0.14 and the fetched 0.18', async () => {
    const versions = (await resticBinaries()).map((binary) => binary.version);
    expect(versions).toHaveLength(2);
    expect(versions[0]).toMatch(/^0\.14\.\d+$/);
    expect(versions[1]).toMatch(/^0\.18\.\d+$/);
  });

  it('only 0.18 offers backup --stdin-from-command', async () => {
    const binaries = await resticBinaries();
    const offers = await Promise.all(
      binaries.map(async ({ path }) => {
        const help = await runChecked({ file: path, args: ['backup', '--help'], timeoutMs: 30_000 });
        return help.stdout.includes('stdin-from-command');
      }),
    );
    expect(offers).toEqual([false, true]);
  });
});
