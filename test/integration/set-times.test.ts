// The time of a backup set's run, as snapkeep shows it, is the time restic recorded — in one
// format, ISO 8601 UTC. restic writes each snapshot's time in the local zone of the machine
// (`…+01:00` in Berlin); the run's "DATE (UTC)" column and the `restore-point` event's `date`
// must be that instant in UTC, not the local clock reading labelled UTC.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runChecked } from '../../src/exec/command.js';
import { useCleanups } from '../helpers/cleanups.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import { resticBinaries } from '../helpers/restic-binaries.js';
import { folderSetConfig } from '../helpers/restic-world.js';
import { useTimeZone } from '../helpers/time-zone.js';

const cleanups = useCleanups();
useTimeZone('Europe/Berlin');

describe('a set run’s time', () => {
  it('is restic’s recorded instant in UTC, in the table and in --json, made in another zone', async () => {
    const [binary] = await resticBinaries();
    const base = await cleanups.tempDir('settimes');
    const uploads = join(base, 'uploads');
    await mkdir(uploads);
    await writeFile(join(uploads, 'a.txt'), 'a\n');
    const password = 'set times password';
    await writeFile(join(base, 'password'), `${password}\n`, { mode: 0o600 });
    const config = join(base, 'snapkeep.yaml');
    await writeFile(config, folderSetConfig(base, uploads, 'uploads'));
    const env = { ...process.env, TZ: 'Europe/Berlin', SNAPKEEP_RESTIC: binary!.path } as Record<
      string,
      string
    >;
    expectExit(await snapkeep(['backup', '--config', config], { env }), 0);

    // Ground truth: restic's own record, with its zone offset.
    const listed = await runChecked({
      file: binary!.path,
      args: ['snapshots', '--json'],
      env: { ...env, RESTIC_REPOSITORY: join(base, 'repo'), RESTIC_PASSWORD: password },
    });
    const [snapshot] = JSON.parse(listed.stdout) as { time: string }[];
    expect(snapshot!.time).toMatch(/\+0[12]:00$/);
    const utc = new Date(snapshot!.time).toISOString();

    const json = await snapkeep(['restore', 'app', '--config', config, '--json'], { env });
    expectExit(json, 0);
    const [point] = events(json.stdout).filter((event) => event.type === 'restore-point');
    expect(point?.date).toBe(utc);

    const text = await snapkeep(['restore', 'app', '--config', config], { env });
    expectExit(text, 0);
    expect(text.stdout).toContain(`${utc.slice(0, 19).replace('T', ' ')}  local`);
  });
});
