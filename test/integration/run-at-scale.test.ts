// A run of many subvolumes through the built CLI, counted in the processes it starts (a count
// does not depend on the machine's load): each filesystem is listed once up front, however many
// subvolumes are on it; what a run makes is read back by shared listings, not a `btrfs subvolume
// show` each; FIFOs are made for the transfers that run at once, not for every snapshot; a latest
// pointer costs no process at all; a stream's metadata is read by its send's process. Every copy
// is still verified (the run's send steps say so). And a run
// that writes no metrics textfile does not load the metrics library on its way to exit.
import { readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked, runCommand } from '../../src/exec/command.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import { createSubvolume, writeRandomData } from '../helpers/btrfs-tree.js';
import { createLoopBtrfs, makeTempDir, requireTools, type LoopBtrfs } from '../helpers/loop-btrfs.js';

const count = 6;
const parallel = 2;
const names = Array.from({ length: count }, (_, index) => `sv${index + 1}`);

let source: LoopBtrfs;
let target: LoopBtrfs;
let base: string;
let configPath: string;

beforeAll(async () => {
  await requireTools(['btrfs', 'mkfs.btrfs']);
  source = await createLoopBtrfs('scale-src', 400);
  target = await createLoopBtrfs('scale-tgt', 400);
  base = await makeTempDir('scale');
  const backups = join(target.mountPoint, 'backups');
  await runChecked({ file: 'mkdir', args: ['-p', backups] });
  for (const name of names) {
    await createSubvolume(join(source.mountPoint, name));
    await writeRandomData(join(source.mountPoint, name), 1);
  }
  configPath = join(base, 'snapkeep.yaml');
  await writeFile(
    configPath,
    [
      `state_dir: ${join(base, 'state')}`,
      `parallel: ${parallel}`,
      'defaults:',
      '  snapshot_retention: { preserve_min: all }',
      '  target_retention: { preserve_min: all }',
      'targets:',
      `  disk: { path: ${backups} }`,
      'subvolumes:',
      ...names.map(
        (name) =>
          `  ${name}: { path: ${join(source.mountPoint, name)}, snapshot_dir: ${join(source.mountPoint, 'snaps')}, targets: [disk] }`,
      ),
      '',
    ].join('\n'),
  );
  // The first run sends everything in full; the counted one below is incremental.
  expectExit(await snapkeep(['run', '--json', '--config', configPath]), 0);
}, 120_000);

afterAll(async () => {
  await source?.cleanup();
  await target?.cleanup();
  if (base) await runCommand({ file: 'rm', args: ['-rf', base] });
});

describe(`a run of ${count} subvolumes`, () => {
  it('starts one listing per filesystem, no `btrfs subvolume show`, FIFOs only for concurrent transfers, no process for a pointer', async () => {
    const result = await snapkeep(['run', '--json', '--config', configPath], {
      env: { SNAPKEEP_DEBUG: '1' },
    });
    expectExit(result, 0);
    // SNAPKEEP_DEBUG: "snapkeep debug: +Nms COMMAND → exit N in N ms" for every command.
    const commands = result.stderr
      .split('\n')
      .flatMap((line) => /^snapkeep debug: \+\d+ms (.*) → /.exec(line)?.[1] ?? []);
    const matching = (pattern: RegExp) => commands.filter((command) => pattern.test(command));
    const sourcePaths = names.map((name) => join(source.mountPoint, name));
    expect(
      matching(/^btrfs subvolume list -a /).filter((command) =>
        sourcePaths.some((path) => command.endsWith(` ${path}`)),
      ),
    ).toHaveLength(1);
    expect(matching(/^btrfs subvolume show /)).toEqual([]);
    expect(matching(/^mkfifo /).length).toBeLessThanOrEqual(parallel);
    expect(matching(/^btrfs subvolume snapshot /)).toHaveLength(count);
    expect(matching(/^mv /)).toEqual([]);
    const steps = events(result.stdout).filter((event) => event.type === 'step') as {
      ok: boolean;
      step: { kind: string; path?: string; pointsTo?: string | null };
    }[];
    expect(steps.every((step) => step.ok)).toBe(true);
    expect(steps.filter((step) => step.step.kind === 'send')).toHaveLength(count);
    // Pointers by file calls (a fork of this process each would cost its main thread twice per
    // subvolume); only `snapshot --deadline` writes them by processes. Each really points there.
    expect(matching(/^(ln|rm|mkdir) /)).toEqual([]);
    const pointers = steps.filter((step) => step.step.kind === 'update-latest');
    expect(pointers).toHaveLength(2 * count);
    for (const { step } of pointers) expect(await readlink(step.path!)).toBe(step.pointsTo);
    // Every copy verified against its stream's changes: one metadata read per send, run by the
    // send's own counting process after it (debug line "then COMMAND → exit N"), never started
    // as a process of its own.
    expect(matching(/^then btrfs send -q --no-data /)).toHaveLength(count);
    expect(matching(/^btrfs send -q --no-data /)).toEqual([]);
    expect(result.stderr).not.toMatch(/then btrfs send -q --no-data .* → (?!exit 0$)/m);
  });

  it('loads no metrics library when no metrics textfile is written (node:https is not loaded)', async () => {
    // Node's own record of the built-in modules the process loaded, written as it exits.
    const preload = join(base, 'loaded-modules.cjs');
    const loaded = join(base, 'loaded-modules.txt');
    await writeFile(
      preload,
      "process.on('exit', () => require('node:fs').writeFileSync(process.env.LOADED_MODULES, process.moduleLoadList.join('\\n')));\n",
    );
    const result = await snapkeep(['run', '--json', '--config', configPath], {
      env: { NODE_OPTIONS: `--require ${preload}`, LOADED_MODULES: loaded },
    });
    expectExit(result, 0);
    const modules = (await readFile(loaded, 'utf8')).split('\n');
    // The run did go through the end of its lifecycle (where the metrics observer runs).
    expect(events(result.stdout).at(-1)).toMatchObject({ type: 'summary', exitCode: 0 });
    expect(modules).toContain('NativeModule child_process');
    expect(modules).not.toContain('NativeModule https');
  });
});
