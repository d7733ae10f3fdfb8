// The btrfs engine against real loop-mounted btrfs filesystems, through the built CLI.
import { readFile, readdir, writeFile, appendFile } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runChecked, runCommand } from '../../src/exec/command.js';
import { snapkeep, events, expectExit } from '../helpers/cli.js';
import { createLoopBtrfs, makeTempDir, requireTools, type LoopBtrfs } from '../helpers/loop-btrfs.js';
import { createSubvolume, show, snapshotAs, treeChecksums, writeRandomData } from '../helpers/btrfs-tree.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

beforeAll(async () => {
  await requireTools(['btrfs', 'mkfs.btrfs', 'btrbk']);
});

interface World {
  source: LoopBtrfs;
  targets: LoopBtrfs[];
  configPath: string;
  stateDir: string;
  writeConfig(yaml: string): Promise<void>;
}

async function makeWorld(
  options: { targetSizesMiB?: number[]; sourceMiB?: number; sourceMountOptions?: string[] } = {},
): Promise<World> {
  const source = await createLoopBtrfs('src', options.sourceMiB ?? 512, options.sourceMountOptions);
  cleanups.push(() => source.cleanup());
  const targets: LoopBtrfs[] = [];
  for (const [index, size] of (options.targetSizesMiB ?? [512]).entries()) {
    const target = await createLoopBtrfs(`tgt${index}`, size);
    cleanups.push(() => target.cleanup());
    targets.push(target);
  }
  const base = await makeTempDir('engine');
  const configPath = join(base, 'snapkeep.yaml');
  const stateDir = join(base, 'state');
  cleanups.push(async () => {
    await runCommand({ file: 'rm', args: ['-rf', base] });
  });
  return {
    source,
    targets,
    configPath,
    stateDir,
    writeConfig: (yaml) => writeFile(configPath, `state_dir: ${stateDir}\n${yaml}`),
  };
}

/** A 1 GiB source and two targets: `small` (smallMiB) and `big` (512 MiB), each a backups dir. */
async function smallAndBigTargets(smallMiB: number): Promise<{ world: World; small: string; big: string }> {
  const world = await makeWorld({ sourceMiB: 1024, targetSizesMiB: [smallMiB, 512] });
  const small = join(world.targets[0]!.mountPoint, 'backups');
  const big = join(world.targets[1]!.mountPoint, 'backups');
  await runCommand({ file: 'mkdir', args: ['-p', small, big] });
  return { world, small, big };
}

/**
 * The config of a small/big world: snapshots kept only while needed, and each subvolume (a
 * directory of that name on the source) sent to the targets named.
 */
function writeSmallBigConfig(
  { world, small, big }: { world: World; small: string; big: string },
  subvolumes: Record<string, string[]>,
): Promise<void> {
  const entries = Object.entries(subvolumes).map(
    ([name, targets]) => `  ${name}:
    path: ${join(world.source.mountPoint, name)}
    snapshot_dir: ${join(world.source.mountPoint, 'snapshots')}
    targets: [${targets.join(', ')}]
`,
  );
  return world.writeConfig(`targets:
  small: { path: ${small} }
  big: { path: ${big} }
defaults:
  snapshot_retention: { preserve_min: latest, preserve: "no" }
subvolumes:
${entries.join('')}`);
}

/** One subvolume `data` on the source, sent to target 0. */
async function simpleWorld(extra = '', options: Parameters<typeof makeWorld>[0] = {}): Promise<World> {
  const world = await makeWorld(options);
  await createSubvolume(join(world.source.mountPoint, 'data'));
  await runCommand({ file: 'mkdir', args: ['-p', join(world.targets[0]!.mountPoint, 'backups')] });
  await world.writeConfig(`targets:
  disk:
    path: ${join(world.targets[0]!.mountPoint, 'backups')}
subvolumes:
  data:
    path: ${join(world.source.mountPoint, 'data')}
    snapshot_dir: ${join(world.source.mountPoint, 'snapshots')}
    targets: [disk]
${extra}`);
  return world;
}

const stepEvents = (stdout: string) =>
  events(stdout).filter((event) => event.type === 'step') as {
    ok: boolean;
    error?: string;
    step: Record<string, unknown>;
  }[];

async function subvolumeNames(directory: string): Promise<string[]> {
  return (await readdir(directory)).sort();
}

describe('btrfs engine on loop devices', () => {
  it('full then incremental transfer: read-only copies with received UUIDs, parent = previous common snapshot, identical files', async () => {
    const world = await simpleWorld();
    const data = join(world.source.mountPoint, 'data');
    const targetDir = join(world.targets[0]!.mountPoint, 'backups');
    await writeRandomData(data, 24);

    const first = await snapkeep(['run', '--config', world.configPath, '--json']);
    expect(first.stderr).toBe('');
    expectExit(first, 0);
    const firstSend = stepEvents(first.stdout).find((event) => event.step.kind === 'send')!;
    expect(firstSend.ok).toBe(true);
    expect(firstSend.step.parent).toBeUndefined();
    const firstName = firstSend.step.name as string;

    await writeRandomData(join(data, 'more'), 4, 'changed');
    await appendFile(join(data, 'file-0.bin'), 'appended');
    const second = await snapkeep(['run', '--config', world.configPath, '--json']);
    expectExit(second, 0);
    const secondSend = stepEvents(second.stdout).find((event) => event.step.kind === 'send')!;
    expect(secondSend.ok).toBe(true);
    expect((secondSend.step.parent as { name: string }).name).toBe(firstName);
    const secondName = secondSend.step.name as string;

    const snapshot = await show(join(world.source.mountPoint, 'snapshots', secondName));
    const copy = await show(join(targetDir, secondName));
    const parentCopy = await show(join(targetDir, firstName));
    expect(copy.readonly).toBe(true);
    expect(copy.receivedUuid).toBe(snapshot.uuid);
    expect(copy.parentUuid).toBe(parentCopy.uuid);
    expect(await treeChecksums(join(targetDir, secondName))).toEqual(await treeChecksums(data));
  });

  it('retention deletes exactly what the dry-run plan printed', async () => {
    const world = await simpleWorld(`    snapshot_retention: { preserve_min: latest, preserve: "3d 2w" }
    target_retention: { preserve_min: latest, preserve: "2d" }
`);
    const data = join(world.source.mountPoint, 'data');
    const snapshots = join(world.source.mountPoint, 'snapshots');
    await writeRandomData(data, 1);
    // A history: one snapshot every 12 hours for 20 days before "now".
    const now = new Date();
    for (let hours = 20 * 24; hours >= 12; hours -= 12) {
      const date = new Date(now.getTime() - hours * 3_600_000);
      const pad = (value: number): string => String(value).padStart(2, '0');
      const stamp = `${date.getFullYear()}${pad(date.getMonth() + 1)}${pad(date.getDate())}T${pad(date.getHours())}${pad(date.getMinutes())}`;
      await snapshotAs(data, join(snapshots, `data.${stamp}`));
    }
    // Send everything the target keeps so pruning has copies to consider too.
    expectExit(await snapkeep(['resume', '--config', world.configPath]), 0);

    const before = await subvolumeNames(snapshots);
    const plan = await snapkeep(['prune', '--config', world.configPath, '--dry-run', '--json']);
    expectExit(plan, 0);
    const planned = events(plan.stdout)
      .filter((event) => event.type === 'plan')
      .flatMap((event) => event.steps as { kind: string; name: string; target?: string }[])
      .map((step) => `${step.kind}:${step.target ?? ''}:${step.name}`)
      .sort();
    expect(planned.length).toBeGreaterThan(5);
    expect(await subvolumeNames(snapshots)).toEqual(before); // the dry run touched nothing

    const applied = await snapkeep(['prune', '--config', world.configPath, '--json']);
    expectExit(applied, 0);
    const done = stepEvents(applied.stdout)
      .filter((event) => event.ok)
      .map(
        (event) =>
          `${event.step.kind as string}:${(event.step.target as string | undefined) ?? ''}:${event.step.name as string}`,
      )
      .sort();
    expect(done).toEqual(planned);
    const deletedSnapshots = planned
      .filter((entry) => entry.startsWith('delete-snapshot'))
      .map((entry) => entry.split(':')[2]);
    expect(await subvolumeNames(snapshots)).toEqual(
      before.filter((name) => !deletedSnapshots.includes(name)),
    );
  });

  it('a receive killed mid-stream leaves garbage that the next run deletes before re-sending; the copy restores byte-identically', async () => {
    const world = await simpleWorld('', { sourceMiB: 1024, targetSizesMiB: [1024] });
    const data = join(world.source.mountPoint, 'data');
    const targetDir = join(world.targets[0]!.mountPoint, 'backups');
    await writeRandomData(data, 400);

    const child = snapkeep(['run', '--config', world.configPath, '--json']);
    // Wait for the receive to create its (still writable) subvolume, then kill the receiver.
    let killed = false;
    for (let attempt = 0; attempt < 200 && !killed; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      const entries = await readdir(targetDir);
      if (entries.length > 0) {
        const result = await runCommand({
          file: 'pkill',
          // Local receives read a FIFO: `btrfs receive -f <fifo> <dir>`.
          args: ['-KILL', '-f', `btrfs receive (-f [^ ]+ )?${targetDir}`],
        });
        killed = result.exitCode === 0;
      }
    }
    expect(killed).toBe(true);
    const interrupted = await child;
    expectExit(interrupted, 3);
    expect(interrupted.stderr).toMatch(/sending data\.\S+ to disk failed/);

    expect(interrupted.stderr).toMatch(/the partial copy \S+ was deleted/);
    expect(await readdir(targetDir)).toEqual([]);

    // Simulate the worst case too: a crash that could not clean up (garbage left behind).
    const snapshotName = (await readdir(join(world.source.mountPoint, 'snapshots')))[0]!;
    await runChecked({ file: 'btrfs', args: ['subvolume', 'create', join(targetDir, snapshotName)] });
    expect((await show(join(targetDir, snapshotName))).readonly).toBe(false);

    const listed = await snapkeep(['list', '--what', 'backups', '--config', world.configPath]);
    expect(listed.stdout).toContain('GARBAGE');

    const rerun = await snapkeep(['run', '--config', world.configPath, '--json']);
    expectExit(rerun, 0);
    const kinds = stepEvents(rerun.stdout).map((event) => `${event.step.kind as string}:${event.ok}`);
    expect(kinds[0]).toBe('delete-garbage:true');
    expect(kinds).toContain('send:true');
    const newest = (await readdir(targetDir)).sort().at(-1)!;
    expect(await treeChecksums(join(targetDir, newest))).toEqual(await treeChecksums(data));
  });

  it('a full target fails its job with a clear message; other jobs finish; the parent still needed is kept', async () => {
    const smallAndBig = await smallAndBigTargets(128);
    const { world, small, big } = smallAndBig;
    for (const name of ['alpha', 'beta']) await createSubvolume(join(world.source.mountPoint, name));
    await writeSmallBigConfig(smallAndBig, { alpha: ['small'], beta: ['big'] });
    await writeRandomData(join(world.source.mountPoint, 'alpha'), 2);
    await writeRandomData(join(world.source.mountPoint, 'beta'), 2);
    expectExit(await snapkeep(['run', '--config', world.configPath]), 0);
    const firstAlpha = (await readdir(small))[0]!;

    // Now alpha grows past what the small target can hold.
    await writeRandomData(join(world.source.mountPoint, 'alpha', 'big'), 300);
    await writeRandomData(join(world.source.mountPoint, 'beta', 'more'), 8);
    const result = await snapkeep(['run', '--config', world.configPath]);
    expectExit(result, 3);
    expect(result.stderr).toMatch(
      /FAILED: alpha → small: sending alpha\.\S+ to small failed: target small is full \(No space left on device\)/,
    );
    // beta finished: its newest snapshot reached the big target.
    const betaSnapshots = (await readdir(join(world.source.mountPoint, 'snapshots'))).filter((name) =>
      name.startsWith('beta.'),
    );
    expect(await readdir(big)).toContain(betaSnapshots.sort().at(-1));
    // alpha's latest common snapshot (the parent of the next attempt) survived pruning,
    // and the small target holds no partial copy.
    expect(await readdir(join(world.source.mountPoint, 'snapshots'))).toContain(firstAlpha);
    expect((await readdir(small)).filter((name) => !name.endsWith('.latest'))).toEqual([firstAlpha]);
  });

  it('one subvolume, two local targets: each stream is sent once and fanned out; a target that fills up fails alone', async () => {
    const smallAndBig = await smallAndBigTargets(160);
    const { world, small, big } = smallAndBig;
    const data = join(world.source.mountPoint, 'data');
    await createSubvolume(data);
    await writeSmallBigConfig(smallAndBig, { data: ['small', 'big'] });
    // Data streams (each copy's verification reads its stream's metadata: send --no-data).
    const sendsIn = (stderr: string): string[] =>
      stderr.split('\n').filter((line) => /snapkeep debug: \+\d+ms btrfs send -q (?!--no-data)/.test(line));
    const run = () =>
      snapkeep(['run', '--config', world.configPath, '--json'], { env: { SNAPKEEP_DEBUG: '1' } });

    // Full, then incremental: one `btrfs send` each time, two verified copies with identical files.
    await writeRandomData(data, 24);
    for (const round of ['full', 'incremental']) {
      if (round === 'incremental') await writeRandomData(join(data, 'more'), 4, 'changed');
      const result = await run();
      expectExit(result, 0);
      expect(sendsIn(result.stderr)).toHaveLength(1);
      const sent = events(result.stdout).filter(
        (event) => event.type === 'step' && (event.step as { kind: string }).kind === 'send',
      );
      expect(sent.map((event) => [(event.step as { target: string }).target, event.ok]).sort()).toEqual([
        ['big', true],
        ['small', true],
      ]);
      const newest = (await readdir(join(world.source.mountPoint, 'snapshots'))).sort().at(-1)!;
      const snapshot = await show(join(world.source.mountPoint, 'snapshots', newest));
      for (const target of [small, big]) {
        const copy = await show(join(target, newest));
        expect(copy.readonly).toBe(true);
        expect(copy.receivedUuid).toBe(snapshot.uuid);
        expect(await treeChecksums(join(target, newest))).toEqual(await treeChecksums(data));
      }
    }

    // Now the stream no longer fits the small target: it fails with the reason, the big one
    // still receives from the same single send, and small keeps no partial copy.
    const before = await readdir(small);
    await writeRandomData(join(data, 'big'), 200);
    const result = await run();
    expectExit(result, 3);
    expect(sendsIn(result.stderr)).toHaveLength(1);
    expect(result.stderr).toMatch(
      /FAILED: data → small: sending data\.\S+ to small failed: target small is full \(No space left on device\)/,
    );
    const newest = (await readdir(join(world.source.mountPoint, 'snapshots'))).sort().at(-1)!;
    expect(await readdir(big)).toContain(newest);
    expect(await treeChecksums(join(big, newest))).toEqual(await treeChecksums(data));
    expect(await readdir(small)).toEqual(before);
  });

  it('fan-out: one receive killed mid-stream fails only its target; the other gets its copy, and the next run completes the first byte-identically', async () => {
    const { world, small: first, big: second } = await smallAndBigTargets(1024);
    const data = join(world.source.mountPoint, 'data');
    await createSubvolume(data);
    await world.writeConfig(`targets:
  first: { path: ${first} }
  second: { path: ${second} }
subvolumes:
  data:
    path: ${data}
    snapshot_dir: ${join(world.source.mountPoint, 'snapshots')}
    targets: [first, second]
`);
    await writeRandomData(data, 300);
    const child = snapkeep(['run', '--config', world.configPath]);
    let killed = false;
    for (let attempt = 0; attempt < 200 && !killed; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      if ((await readdir(first)).length > 0) {
        const result = await runCommand({
          file: 'pkill',
          args: ['-KILL', '-f', `btrfs receive -f [^ ]+ ${first}`],
        });
        killed = result.exitCode === 0;
      }
    }
    expect(killed).toBe(true);
    const interrupted = await child;
    expectExit(interrupted, 3);
    expect(interrupted.stderr).toMatch(/FAILED: data → first: sending data\.\S+ to first failed/);
    expect(interrupted.stderr).not.toMatch(/FAILED: data → second/);
    const withoutPointers = (names: string[]) => names.filter((name) => !name.endsWith('.latest'));
    const snapshot = withoutPointers(await readdir(join(world.source.mountPoint, 'snapshots')))[0]!;
    expect(withoutPointers(await readdir(first))).toEqual([]);
    expect(withoutPointers(await readdir(second))).toEqual([snapshot]);
    expect(await treeChecksums(join(second, snapshot))).toEqual(await treeChecksums(data));

    const again = await snapkeep(['run', '--config', world.configPath, '--json']);
    expectExit(again, 0);
    for (const target of [first, second]) {
      const newest = (await readdir(target)).sort().at(-1)!;
      expect((await show(join(target, newest))).readonly).toBe(true);
      expect(await treeChecksums(join(target, newest))).toEqual(await treeChecksums(data));
    }
    expect(await readdir(first)).toContain(snapshot);
  });

  it('a compressed source travels as it is on disk (send protocol 2): the copy on an uncompressed target keeps its compressed extents, and its files are identical', async () => {
    const world = await simpleWorld('', { sourceMountOptions: ['compress=zstd'] });
    const data = join(world.source.mountPoint, 'data');
    const kernelStream = await readFile('/sys/fs/btrfs/features/send_stream_version', 'utf8').catch(
      () => '1',
    );
    // What the kernel offers decides the stream; this machine's (and CI's) kernel offers 2.
    const protocol2 = Number(kernelStream.trim()) >= 2;
    // Text that compresses well (zstd stores it in compressed extents), 4 MiB per file.
    const compressible = (seed: string) =>
      Array.from({ length: 4 * 1024 * 16 }, (_, line) =>
        `${seed} line ${line % 97} of a log\n`.padEnd(64, '.'),
      ).join('');
    const compressedExtents = async (path: string): Promise<number> => {
      const result = await runChecked({ file: 'filefrag', args: ['-v', path] });
      return result.stdout.split('\n').filter((line) => /\bencoded\b/.test(line)).length;
    };
    for (const round of ['full', 'incremental']) {
      await writeFile(join(data, `${round}.log`), compressible(round));
      await runChecked({ file: 'sync', args: [] });
      expect(await compressedExtents(join(data, `${round}.log`))).toBeGreaterThan(0);
      const result = await snapkeep(['run', '--config', world.configPath], { env: { SNAPKEEP_DEBUG: '1' } });
      expectExit(result, 0);
      // The transfer's send (the verification's metadata-only send runs alongside it).
      const send =
        result.stderr
          .split('\n')
          .find((line) => / btrfs send -q /.test(line) && !line.includes('--no-data')) ?? '';
      if (protocol2) expect(send).toContain('btrfs send -q --proto 2 --compressed-data ');
      else expect(send).not.toContain('--proto');
      const newest = (await readdir(join(world.source.mountPoint, 'snapshots'))).sort().at(-1)!;
      const copy = join(world.targets[0]!.mountPoint, 'backups', newest);
      expect(await treeChecksums(copy)).toEqual(await treeChecksums(data));
      await runChecked({ file: 'sync', args: [] });
      // The target is mounted without compression: compressed extents there came in encoded.
      if (protocol2) expect(await compressedExtents(join(copy, `${round}.log`))).toBeGreaterThan(0);
    }
  });

  it('what local sends can use is probed once and cached by btrfs binary and kernel; a stale or corrupt entry is probed again', async () => {
    const world = await simpleWorld();
    await writeRandomData(join(world.source.mountPoint, 'data'), 1);
    const cacheDirectory = join(world.stateDir, '..', 'cache');
    const entryPath = join(cacheDirectory, 'send-features.json');
    const probes = async (): Promise<number> => {
      const result = await snapkeep(['run', '--config', world.configPath], {
        env: { SNAPKEEP_DEBUG: '1', SNAPKEEP_CACHE_DIR: cacheDirectory },
      });
      expectExit(result, 0);
      return result.stderr.split('\n').filter((line) => / btrfs send --help /.test(line)).length;
    };
    expect(await probes()).toBe(1);
    const entry = JSON.parse(await readFile(entryPath, 'utf8')) as { key: string; answer: unknown };
    expect(entry.key).toContain(`|${release()}`);
    expect(await probes()).toBe(0);
    await writeFile(entryPath, JSON.stringify({ ...entry, key: `${entry.key}-another-kernel` }));
    expect(await probes()).toBe(1);
    await writeFile(entryPath, '{ not json');
    expect(await probes()).toBe(1);
    expect(JSON.parse(await readFile(entryPath, 'utf8'))).toEqual(entry);
  });

  it('two concurrent runs: one exits 11 and names the holder', async () => {
    const world = await simpleWorld('', { sourceMiB: 1024, targetSizesMiB: [1024] });
    await writeRandomData(join(world.source.mountPoint, 'data'), 300);
    const first = snapkeep(['run', '--config', world.configPath]);
    // The second starts once the first is sending (it holds the lock then): an event, not a delay.
    const targetDir = join(world.targets[0]!.mountPoint, 'backups');
    for (let attempt = 0; attempt < 2000; attempt++) {
      const found = await runCommand({
        file: 'pgrep',
        args: ['-f', `btrfs receive (-f [^ ]+ )?${targetDir}`],
      });
      if (found.exitCode === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const [a, b] = await Promise.all([first, snapkeep(['run', '--config', world.configPath])]);
    const codes = [a.exitCode, b.exitCode].sort();
    expect(codes).toEqual([0, 11]);
    const refused = a.exitCode === 11 ? a : b;
    expect(refused.stderr).toMatch(
      /another snapkeep run holds the lock .*snapkeep\.lock: pid \d+ on \S+ \("snapkeep run"/,
    );
  });

  it('takes over a subvolume btrbk has been backing up, without a full re-send', async () => {
    const world = await simpleWorld();
    const data = join(world.source.mountPoint, 'data');
    const snapshots = join(world.source.mountPoint, 'snapshots');
    const targetDir = join(world.targets[0]!.mountPoint, 'backups');
    await runCommand({ file: 'mkdir', args: ['-p', snapshots] });
    await writeRandomData(data, 8);
    const btrbkConfig = join(world.stateDir, '..', 'btrbk.conf');
    await writeFile(
      btrbkConfig,
      `snapshot_preserve_min all\ntarget_preserve_min all\nvolume ${world.source.mountPoint}\n  snapshot_dir snapshots\n  subvolume data\n    target ${targetDir}\n`,
    );
    const btrbk = await runCommand({ file: 'btrbk', args: ['-c', btrbkConfig, 'run'] });
    expect(btrbk.exitCode, btrbk.stderr).toBe(0);
    const btrbkSnapshot = (await readdir(snapshots))[0]!;
    expect(await readdir(targetDir)).toEqual([btrbkSnapshot]);

    await writeRandomData(join(data, 'new'), 2);
    const plan = await snapkeep(['run', '--config', world.configPath, '--dry-run', '--json']);
    const send = events(plan.stdout)
      .filter((event) => event.type === 'plan')
      .flatMap((event) => event.steps as { kind: string; parent?: { name: string } }[])
      .find((step) => step.kind === 'send');
    expect(send?.parent?.name).toBe(btrbkSnapshot);

    const run = await snapkeep(['run', '--config', world.configPath, '--json']);
    expectExit(run, 0);
    const sent = stepEvents(run.stdout).find((event) => event.step.kind === 'send')!;
    const copy = await show(join(targetDir, sent.step.name as string));
    expect(copy.parentUuid).toBe((await show(join(targetDir, btrbkSnapshot))).uuid);
    expect(await treeChecksums(join(targetDir, sent.step.name as string))).toEqual(await treeChecksums(data));
  });

  it('dry-run changes nothing and the journal records every action', async () => {
    const world = await simpleWorld();
    await writeRandomData(join(world.source.mountPoint, 'data'), 1);
    const dry = await snapkeep(['run', '--config', world.configPath, '--dry-run']);
    expectExit(dry, 0);
    expect(dry.stdout).toMatch(/would data: snapshot /);
    expect(dry.stdout).toMatch(
      /would data → disk: send data\.\S+ full \(no snapshot has a copy on disk yet\)/,
    );
    expect(await readdir(join(world.targets[0]!.mountPoint, 'backups'))).toEqual([]);
    await expect(readFile(join(world.stateDir, 'journal.ndjson'), 'utf8')).rejects.toThrow();

    expectExit(await snapkeep(['run', '--config', world.configPath]), 0);
    const journal = (await readFile(join(world.stateDir, 'journal.ndjson'), 'utf8'))
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { event: string; kind?: string; ok?: boolean });
    expect(journal.map((entry) => entry.event)).toEqual([
      'run-start',
      'step',
      'step',
      'step',
      'step',
      'run-end',
    ]);
    expect(journal.filter((entry) => entry.event === 'step').map((entry) => [entry.kind, entry.ok])).toEqual([
      ['create-snapshot', true],
      ['update-latest', true],
      ['send', true],
      ['update-latest', true],
    ]);
    const status = await snapkeep(['status', '--config', world.configPath]);
    expectExit(status, 0);
    expect(status.stdout).toMatch(/last run: .* snapkeep run, exit 0/);
  });

  it('an unreachable target aborts only its own job (exit 10) and local pruning continues', async () => {
    const world = await simpleWorld(`    snapshot_retention: { preserve_min: latest, preserve: "no" }
`);
    await writeRandomData(join(world.source.mountPoint, 'data'), 1);
    expectExit(await snapkeep(['run', '--config', world.configPath]), 0);
    const sentFirst = (await readdir(join(world.targets[0]!.mountPoint, 'backups'))).filter(
      (name) => !name.endsWith('.latest'),
    )[0]!;
    await world.targets[0]!.cleanup(); // the disk goes away
    await snapkeep(['run', '--config', world.configPath]);
    const third = await snapkeep(['run', '--config', world.configPath]);
    expectExit(third, 10);
    expect(third.stderr).toMatch(/UNREACHABLE: data → disk: .* does not exist \(is the disk mounted\?/);
    const remaining = (await readdir(join(world.source.mountPoint, 'snapshots'))).filter(
      (name) => !name.endsWith('.latest'),
    );
    // The parent the disk needs is kept, the newest is kept, the one in between was pruned.
    expect(remaining).toContain(sentFirst);
    expect(remaining.length).toBe(2);
  });
});
