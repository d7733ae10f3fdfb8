// What a run says about snapshots it does not send: a dry run and --json say it every time; a
// run's text does not repeat it (with snapshot_create: always it would be on every run).
import { readFile, writeFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../helpers/cleanups.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import { diskWorld } from '../helpers/disk-world.js';

const cleanups = useCleanups();

describe('routine notes', () => {
  it('"N snapshot(s) not sent" is in the dry run and the JSON plan, not in the text of a run', async () => {
    const world = await diskWorld(cleanups, 'notes', 256);
    await writeFile(
      world.configPath,
      (await readFile(world.configPath, 'utf8')).replace(
        'disk: { path: ',
        'disk: { retention: { preserve_min: latest, preserve: "no" }, path: ',
      ),
    );
    // Two snapshots the target will not get: only the newest is kept there.
    for (let round = 0; round < 2; round++)
      expectExit(await snapkeep(['snapshot', '--config', world.configPath]), 0);
    const note = /snapshot\(s\) not sent: the retention of disk would not keep them/;

    const dry = await snapkeep(['run', '--config', world.configPath, '--dry-run']);
    expectExit(dry, 0);
    expect(dry.stdout).toMatch(note);

    const json = await snapkeep(['run', '--config', world.configPath, '--dry-run', '--json']);
    const notes = events(json.stdout)
      .filter((event) => event.type === 'plan')
      .flatMap((event) => event.notes as { message: string; routine?: boolean }[]);
    expect(notes.find((each) => note.test(each.message))).toMatchObject({ routine: true });

    const run = await snapkeep(['run', '--config', world.configPath]);
    expectExit(run, 0);
    expect(run.stdout).not.toMatch(note);
    expect(run.stdout).toMatch(/send/);
  });
});
