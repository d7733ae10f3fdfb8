// The target-side watch script (share/snapkeep-target-watch.sh) under dash with a damaged state
// file (a channel's time that is not a number, or too long for sh arithmetic): the run goes on,
// alerts as if the state were new and writes a good state (it used to stop at "Illegal number",
// exit 2, every hour, with no alert ever sent again).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/command.js';
import { watchScript } from '../../src/remote/target-watch.js';
import { useCleanups } from '../helpers/cleanups.js';
import { requireTools } from '../helpers/loop-btrfs.js';
import { startHttpReceiver, type HttpReceiver } from '../helpers/notify-receivers.js';

const cleanups = useCleanups(afterAll);
let receiver: HttpReceiver;
let dash: string;

beforeAll(async () => {
  await requireTools(['dash', 'curl']);
  dash = (await runCommand({ file: 'sh', args: ['-c', 'command -v dash'] })).stdout.trim();
  receiver = await startHttpReceiver(cleanups);
});

describe('target watch with a damaged state file', () => {
  it.each(['n stale 12abc', 'n stale 99999999999999999999'])(
    'state "%s": alerts and rewrites it',
    async (line) => {
      const base = await cleanups.tempDir('watch-state');
      const snapshots = join(base, 'snapshots');
      await mkdir(join(snapshots, 'home.20200101T0000'), { recursive: true });
      await writeFile(join(base, 'watch.sh'), watchScript(), { mode: 0o700 });
      await writeFile(
        join(base, 'watch.conf'),
        `target='offsite'\nthreshold=3600\nremind=3600\ntimeout=5\nzone='UTC'\ndevice '${snapshots}' 'home'\nntfy 'n' '${receiver.url}/topic' '' 4 3 'warning' 'ok'\n`,
        { mode: 0o600 },
      );
      await writeFile(join(base, 'state'), `${line}\n`);
      const before = receiver.requests.length;
      const result = await runCommand({ file: dash, args: [join(base, 'watch.sh')] });
      expect(result.stderr).toBe('');
      expect(result.exitCode).toBe(1); // stale, told
      expect(receiver.requests.length).toBe(before + 1);
      expect(await readFile(join(base, 'state'), 'utf8')).toMatch(/^n stale \d{1,17}\n$/);
    },
  );
});
