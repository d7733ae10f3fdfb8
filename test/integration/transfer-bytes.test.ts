// The size a transfer records (journal `step` entries, `--json` step events; restore's size
// column, status and ETAs read them) is the stream's length: what `btrfs send … | wc -c` of the
// same snapshots with the same options counts. Full, incremental, a tiny incremental (nothing
// changed), a fan-out to two local targets, a push over ssh and a pull back over ssh.
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecked } from '../../src/exec/command.js';
import { sendSnapshot } from '../../src/btrfs/btrfs-commands.js';
import { localSendFeatures } from '../../src/btrfs/send-features.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import { useCleanups } from '../helpers/cleanups.js';
import type { LoopBtrfs } from '../helpers/loop-btrfs.js';
import { createSubvolume, snapshotsIn, writeRandomData } from '../helpers/btrfs-tree.js';
import { sshConfig, sshUrl, type RemoteHost } from '../helpers/remote-host.js';
import { startSshWorld } from '../helpers/ssh-world.js';

let remote: RemoteHost;
let source: LoopBtrfs;
let target: LoopBtrfs;
let secondTarget: LoopBtrfs;
let base: string;
let configPath: string;
const cleanups = useCleanups(afterAll);

beforeAll(async () => {
  ({ remote, base, configPath } = await startSshWorld(cleanups, 'bytes'));
  source = await cleanups.loopBtrfs('bytes-src', 1024);
  target = await cleanups.loopBtrfs('bytes-tgt', 1024);
  // Its own filesystem: a receive finds its parent by received UUID among all subvolumes of the
  // filesystem, and two copies of one parent there would make the parent ambiguous.
  secondTarget = await cleanups.loopBtrfs('bytes-tgt2', 1024);
});

interface SendStep {
  readonly kind: string;
  readonly subvolume: string;
  readonly target: string;
  readonly name: string;
  readonly snapshotPath: string;
  readonly parent?: { readonly path: string };
}

/** `btrfs send [-p parent] snapshot | wc -c`, with the options a send to `target` uses. */
async function streamLength(step: SendStep): Promise<number> {
  const features = step.target === 'offsite' ? undefined : await localSendFeatures();
  const send = sendSnapshot(step.snapshotPath, step.parent?.path, undefined, features);
  const counted = await runChecked({
    file: 'sh',
    args: ['-c', '"$@" | wc -c', 'sh', send.file, ...send.args],
  });
  return Number(counted.stdout.trim());
}

async function run(): Promise<{ step: SendStep; bytes: unknown }[]> {
  const result = await snapkeep(['run', '--config', configPath, '--json']);
  expectExit(result, 0);
  return events(result.stdout)
    .filter((event) => event.type === 'step' && (event.step as SendStep).kind === 'send')
    .map((event) => ({ step: event.step as SendStep, bytes: event.bytes }));
}

describe('recorded transfer sizes', () => {
  it('are the streams’ exact lengths: full, incremental, tiny, fan-out, ssh push and pull', async () => {
    for (const name of ['shared', 'solo', 'far']) await createSubvolume(join(source.mountPoint, name));
    await writeRandomData(join(source.mountPoint, 'shared'), 24);
    await writeRandomData(join(source.mountPoint, 'solo'), 12);
    await writeRandomData(join(source.mountPoint, 'far'), 6);
    await runChecked({
      file: 'mkdir',
      args: ['-p', join(target.mountPoint, 'one'), join(secondTarget.mountPoint, 'two')],
    });
    await remote.run(['mkdir', '-p', `${remote.root}/laptop`]);
    const subvolume = (name: string, targets: string) => `  ${name}:
    path: ${join(source.mountPoint, name)}
    snapshot_dir: ${join(source.mountPoint, 'snapshots', name)}
    targets: [${targets}]
`;
    await writeFile(
      configPath,
      `state_dir: ${join(base, 'state')}
${sshConfig(remote)}targets:
  one: { path: ${join(target.mountPoint, 'one')} }
  two: { path: ${join(secondTarget.mountPoint, 'two')} }
  offsite: { path: '${sshUrl(remote, `${remote.root}/laptop`)}' }
defaults:
  snapshot_retention: { preserve_min: all }
  target_retention: { preserve_min: all }
subvolumes:
${subvolume('shared', 'one, two')}${subvolume('solo', 'one')}${subvolume('far', 'offsite')}`,
    );

    const full = await run();
    await appendFile(join(source.mountPoint, 'shared', 'file-0.bin'), Buffer.alloc(3_000_000, 1));
    await appendFile(join(source.mountPoint, 'far', 'file-0.bin'), Buffer.alloc(1_000_000, 2));
    // solo is unchanged: its incremental stream is a few hundred bytes.
    const incremental = await run();
    const sends = [...full, ...incremental];
    expect(
      sends
        .map(({ step }) => `${step.subvolume}→${step.target} ${step.parent ? 'incremental' : 'full'}`)
        .sort(),
    ).toEqual([
      'far→offsite full',
      'far→offsite incremental',
      'shared→one full',
      'shared→one incremental',
      'shared→two full',
      'shared→two incremental',
      'solo→one full',
      'solo→one incremental',
    ]);
    const journal = (await readFile(join(base, 'state', 'journal.ndjson'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((entry) => entry.event === 'step' && entry.kind === 'send');
    for (const { step, bytes } of sends) {
      const length = await streamLength(step);
      const what = `${step.subvolume}→${step.target} ${step.name}`;
      expect(bytes, `${what} (--json)`).toBe(length);
      const entry = journal.find(
        (candidate) => candidate.target === step.target && candidate.name === step.name,
      );
      expect(entry?.bytes, `${what} (journal)`).toBe(length);
    }
    const tiny = incremental.find(({ step }) => step.subvolume === 'solo')!;
    expect(tiny.bytes).toBeLessThan(10_000);

    // Pulled back: with the local snapshots of `far` gone, `restore` receives its latest copy
    // from the host (a full stream) into a new place.
    const latest = incremental.find(({ step }) => step.subvolume === 'far')!.step;
    const farSnapshots = join(source.mountPoint, 'snapshots', 'far');
    for (const name of await snapshotsIn(farSnapshots))
      await runChecked({ file: 'btrfs', args: ['subvolume', 'delete', join(farSnapshots, name)] });
    const restoredTo = join(source.mountPoint, 'restored-far');
    const restore = await snapkeep([
      'restore',
      'far',
      'latest',
      '--from',
      'offsite',
      '--to',
      restoredTo,
      '--config',
      configPath,
      '--json',
    ]);
    expectExit(restore, 0);
    const pulled = events(restore.stdout).filter((event) => typeof event.bytes === 'number');
    expect(pulled.length, restore.stdout).toBeGreaterThan(0);
    const onHost = await remote.run([
      'sh',
      '-c',
      'btrfs send -q "$1" | wc -c',
      'sh',
      `${remote.root}/laptop/${latest.name}`,
    ]);
    expect(pulled.at(-1)!.bytes).toBe(Number(onHost.stdout.trim()));
  });
});
