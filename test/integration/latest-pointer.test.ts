// The `latest` pointer (`<dir>/<name>.latest`) on real btrfs, through the built CLI: readlink is
// the ground truth; btrbk itself checks that it neither sees nor touches the pointer.
import { lstat, readdir, readlink, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runChecked, runCommand } from '../../src/exec/command.js';
import { events, expectExit, snapkeep } from '../helpers/cli.js';
import { createLoopBtrfs, makeTempDir, requireTools, type LoopBtrfs } from '../helpers/loop-btrfs.js';
import { createSubvolume, writeRandomData } from '../helpers/btrfs-tree.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

beforeAll(async () => {
  await requireTools(['btrfs', 'mkfs.btrfs', 'btrbk']);
});

interface World {
  readonly source: LoopBtrfs;
  readonly data: string;
  readonly snapshots: string;
  readonly backups: string;
  readonly base: string;
  readonly configPath: string;
  readonly stateDir: string;
  writeConfig(subvolumeExtra?: string, top?: string): Promise<void>;
}

async function makeWorld(
  options: { snapshotDir?: (data: string) => string; sourceMountOptions?: string[] } = {},
): Promise<World> {
  const source = await createLoopBtrfs('latest-src', 256, options.sourceMountOptions);
  cleanups.push(() => source.cleanup());
  const target = await createLoopBtrfs('latest-tgt', 256);
  cleanups.push(() => target.cleanup());
  const base = await makeTempDir('latest');
  cleanups.push(async () => {
    await runCommand({ file: 'rm', args: ['-rf', base] });
  });
  const data = join(source.mountPoint, 'data');
  await createSubvolume(data);
  await writeRandomData(data, 1);
  const snapshots = options.snapshotDir?.(data) ?? join(source.mountPoint, 'snapshots');
  const backups = join(target.mountPoint, 'backups');
  await runChecked({ file: 'mkdir', args: ['-p', backups] });
  const configPath = join(base, 'snapkeep.yaml');
  const stateDir = join(base, 'state');
  return {
    source,
    data,
    snapshots,
    backups,
    base,
    configPath,
    stateDir,
    writeConfig: (subvolumeExtra = '', top = '') =>
      writeFile(
        configPath,
        `state_dir: ${stateDir}
${top}targets:
  disk: { path: ${backups} }
subvolumes:
  data:
    path: ${data}
    snapshot_dir: ${snapshots}
    targets: [disk]
${subvolumeExtra}`,
      ),
  };
}

const subvolumeNames = async (directory: string): Promise<string[]> =>
  (await readdir(directory)).filter((name) => /^data\.\d{8}/.test(name)).sort();

const steps = (stdout: string) =>
  events(stdout).filter((event) => event.type === 'step') as { ok: boolean; step: Record<string, unknown> }[];

/** Read-only snapshots of `world.data` named `names`, made by btrfs directly (older history). */
async function snapshotsNamed(world: World, names: readonly string[]): Promise<void> {
  await runChecked({ file: 'mkdir', args: ['-p', world.snapshots] });
  for (const name of names)
    await runChecked({
      file: 'btrfs',
      args: ['-q', 'subvolume', 'snapshot', '-r', world.data, join(world.snapshots, name)],
    });
}

describe('the latest pointer', () => {
  it('points at the newest snapshot and the newest copy, relatively, and moves with each run', async () => {
    const world = await makeWorld();
    await world.writeConfig();
    expectExit(await snapkeep(['run', '--config', world.configPath]), 0);
    const [first] = await subvolumeNames(world.snapshots);
    expect(await readlink(join(world.snapshots, 'data.latest'))).toBe(first);
    expect(await readlink(join(world.backups, 'data.latest'))).toBe(first);

    await writeRandomData(world.data, 1, 'more');
    const second = await snapkeep(['run', '--config', world.configPath, '--json']);
    expectExit(second, 0);
    const names = await subvolumeNames(world.snapshots);
    const newest = names.at(-1)!;
    expect(newest).not.toBe(first);
    expect(await readlink(join(world.snapshots, 'data.latest'))).toBe(newest);
    expect(await readlink(join(world.backups, 'data.latest'))).toBe(newest);
    // Through the pointer: the newest snapshot's data (a relative link resolves in its directory).
    expect((await readdir(join(world.snapshots, 'data.latest'))).sort()).toEqual(
      (await readdir(join(world.snapshots, newest))).sort(),
    );
    // Journaled as steps; the temporary links are gone.
    const pointerSteps = steps(second.stdout).filter((event) => event.step.kind === 'update-latest');
    expect(pointerSteps.map((event) => [event.step.target ?? null, event.step.pointsTo, event.ok])).toEqual([
      [null, newest, true],
      ['disk', newest, true],
    ]);
    expect((await readdir(world.snapshots)).filter((name) => name.includes('.tmp'))).toEqual([]);
    expect((await readdir(world.backups)).filter((name) => name.includes('.tmp'))).toEqual([]);

    // list latest (btrbk's spelling) shows the same as --what latest, pointer included.
    const listed = await snapkeep(['list', 'latest', '--config', world.configPath, '--json']);
    expectExit(listed, 0);
    const latest = events(listed.stdout).find((event) => event.type === 'latest')!;
    expect(latest).toMatchObject({
      subvolume: 'data',
      snapshot: newest,
      pointer: { path: join(world.snapshots, 'data.latest'), pointsTo: newest },
    });
    const whatLatest = await snapkeep(['list', '--what', 'latest', '--config', world.configPath, '--json']);
    expect(events(whatLatest.stdout)).toEqual(events(listed.stdout));
  });

  it('plans the pointer in a dry run, with its reason, and changes nothing', async () => {
    const world = await makeWorld();
    await world.writeConfig();
    const dry = await snapkeep(['run', '--dry-run', '--config', world.configPath, '--json']);
    expectExit(dry, 0);
    const plan = events(dry.stdout).find((event) => event.type === 'plan') as {
      steps: { kind: string; target?: string; pointsTo?: string; reason: string }[];
    };
    const created = plan.steps.find((step) => step.kind === 'create-snapshot') as unknown as { name: string };
    const pointers = plan.steps.filter((step) => step.kind === 'update-latest');
    expect(pointers.map((step) => [step.target ?? null, step.pointsTo])).toEqual([
      [null, created.name],
      ['disk', created.name],
    ]);
    expect(pointers[0]!.reason).toContain(`the new snapshot ${created.name} is the newest`);
    expect(pointers[1]!.reason).toContain(`no pointer yet; the newest copy on disk is ${created.name}`);
    const text = await snapkeep(['run', '--dry-run', '--config', world.configPath]);
    expect(text.stdout).toContain(
      `would data: point ${join(world.snapshots, 'data.latest')} at ${created.name}`,
    );
    await expect(lstat(join(world.backups, 'data.latest'))).rejects.toThrow(/ENOENT/);
  });

  it('is repaired by the next run when it dangles or names something else', async () => {
    const world = await makeWorld();
    await world.writeConfig();
    expectExit(await snapkeep(['run', '--config', world.configPath]), 0);
    await writeRandomData(world.data, 1, 'more');
    expectExit(await snapkeep(['run', '--config', world.configPath]), 0);
    const [older, newest] = await subvolumeNames(world.snapshots);
    // The user deletes the newest snapshot: the pointer dangles.
    await runChecked({ file: 'btrfs', args: ['-q', 'subvolume', 'delete', join(world.snapshots, newest!)] });
    const dry = await snapkeep(['prune', '--dry-run', '--config', world.configPath, '--json']);
    const planned = (
      events(dry.stdout).find((event) => event.type === 'plan') as { steps: Record<string, unknown>[] }
    ).steps.filter((step) => step.kind === 'update-latest' && step.target === undefined);
    expect(planned).toHaveLength(1);
    expect(planned[0]!.reason).toContain(`the pointer names ${newest}, which is not a snapshot here`);
    expectExit(await snapkeep(['prune', '--config', world.configPath]), 0);
    expect(await readlink(join(world.snapshots, 'data.latest'))).toBe(older);
    // A pointer made by hand to something else, and on the target one to nothing at all.
    await runChecked({ file: 'ln', args: ['-sfn', 'elsewhere', join(world.snapshots, 'data.latest')] });
    await runChecked({ file: 'rm', args: [join(world.backups, 'data.latest')] });
    expectExit(await snapkeep(['resume', '--config', world.configPath]), 0);
    expect(await readlink(join(world.snapshots, 'data.latest'))).toBe(older);
    expect(await readlink(join(world.backups, 'data.latest'))).toBe(newest);
  });

  it('follows prune when retention deletes the newest snapshot', async () => {
    const world = await makeWorld();
    // First of each day kept: of two snapshots on one day the newer goes.
    await world.writeConfig(
      '',
      'defaults:\n  snapshot_retention: { preserve_min: no, preserve: "*d" }\n  target_retention: { preserve_min: all }\n',
    );
    await snapshotsNamed(world, ['data.20260101T0000', 'data.20260101T1200']);
    await symlink('data.20260101T1200', join(world.snapshots, 'data.latest'));
    const pruned = await snapkeep(['prune', '--config', world.configPath, '--json']);
    expectExit(pruned, 0);
    const done = steps(pruned.stdout).map((event) => [
      event.step.kind,
      event.step.name ?? event.step.pointsTo,
    ]);
    expect(done).toEqual([
      ['delete-snapshot', 'data.20260101T1200'],
      ['update-latest', 'data.20260101T0000'],
    ]);
    const reason = steps(pruned.stdout).at(-1)!.step.reason;
    expect(reason).toBe(
      'data.20260101T1200 is deleted by retention; the newest snapshot left is data.20260101T0000',
    );
    expect(await readlink(join(world.snapshots, 'data.latest'))).toBe('data.20260101T0000');
  });

  it('does not make snapshot_create: onchange snapshot again when the snapshot directory is inside the subvolume', async () => {
    // noatime: the test's own reads of the directory must not change the subvolume either.
    const world = await makeWorld({
      snapshotDir: (data) => join(data, '.snapshots'),
      sourceMountOptions: ['noatime'],
    });
    await world.writeConfig('    snapshot_create: onchange\n');
    expectExit(await snapkeep(['snapshot', '--config', world.configPath]), 0);
    const [first] = await subvolumeNames(world.snapshots);
    expect(await readlink(join(world.snapshots, 'data.latest'))).toBe(first);
    const again = await snapkeep(['snapshot', '--config', world.configPath, '--json']);
    expectExit(again, 0);
    expect(steps(again.stdout)).toEqual([]);
    expect(await subvolumeNames(world.snapshots)).toEqual([first]);
  });

  it('is invisible to btrbk: it lists and prunes the same snapshots with the pointer there, and leaves it alone', async () => {
    const world = await makeWorld();
    const history = ['data.20260101T0000', 'data.20260101T1200', 'data.20260102T0000', 'data.20260103T0600'];
    await snapshotsNamed(world, history);
    await world.writeConfig(
      '',
      'defaults:\n  snapshot_retention: { preserve_min: latest, preserve: "*d" }\n',
    );
    // snapkeep's plan, which also sets the pointer (prune maintains it).
    const plan = await snapkeep(['prune', '--dry-run', '--config', world.configPath, '--json']);
    const snapkeepDeletes = (
      events(plan.stdout).find((event) => event.type === 'plan') as { steps: Record<string, unknown>[] }
    ).steps
      .filter((step) => step.kind === 'delete-snapshot')
      .map((step) => step.name);
    expect(snapkeepDeletes).toEqual(['data.20260101T1200']);
    await symlink('data.20260103T0600', join(world.snapshots, 'data.latest'));

    const btrbkConfig = join(world.base, 'btrbk.conf');
    await writeFile(
      btrbkConfig,
      `timestamp_format long
snapshot_preserve_min latest
snapshot_preserve *d
volume ${world.source.mountPoint}
  snapshot_dir snapshots
  subvolume data
    snapshot_name data
`,
    );
    const listed = await runCommand({
      file: 'btrbk',
      args: ['-c', btrbkConfig, '--format=raw', 'list', 'snapshots'],
    });
    expect(listed.exitCode, listed.stderr).toBe(0);
    const btrbkListed = [...listed.stdout.matchAll(/snapshot_subvolume='[^']*\/(data\.[^']+)'/g)].map(
      (match) => match[1],
    );
    expect(btrbkListed.sort()).toEqual(history);
    const pruned = await runCommand({ file: 'btrbk', args: ['-c', btrbkConfig, 'prune'] });
    expect(pruned.exitCode, pruned.stderr + pruned.stdout).toBe(0);
    expect(await subvolumeNames(world.snapshots)).toEqual(
      history.filter((name) => !snapkeepDeletes.includes(name)),
    );
    // Untouched: still a symlink, same target.
    expect((await lstat(join(world.snapshots, 'data.latest'))).isSymbolicLink()).toBe(true);
    expect(await readlink(join(world.snapshots, 'data.latest'))).toBe('data.20260103T0600');
    // And snapkeep's own scan still sees exactly those snapshots (the pointer is no snapshot).
    const list = await snapkeep(['list', 'snapshots', '--config', world.configPath, '--json']);
    expect(
      events(list.stdout)
        .filter((event) => event.type === 'snapshot')
        .map((event) => event.name),
    ).toEqual(history.filter((name) => !snapkeepDeletes.includes(name)));
  });

  it('is not kept on a target where another subvolume’s copies have the same name (two configs): it never names theirs', async () => {
    const source = await createLoopBtrfs('latest-two-src', 256);
    cleanups.push(() => source.cleanup());
    const target = await createLoopBtrfs('latest-two-tgt', 256);
    cleanups.push(() => target.cleanup());
    const base = await makeTempDir('latest-two');
    cleanups.push(async () => {
      await runCommand({ file: 'rm', args: ['-rf', base] });
    });
    const backups = join(target.mountPoint, 'backups');
    await runChecked({ file: 'mkdir', args: ['-p', backups] });
    const configs: Record<string, string> = {};
    for (const name of ['alpha', 'beta']) {
      await createSubvolume(join(source.mountPoint, name));
      await writeRandomData(join(source.mountPoint, name), 1, name);
      configs[name] = join(base, `${name}.yaml`);
      await writeFile(
        configs[name],
        `state_dir: ${join(base, `state-${name}`)}
targets:
  disk: { path: ${backups} }
subvolumes:
  ${name}:
    path: ${join(source.mountPoint, name)}
    snapshot_name: data
    snapshot_dir: ${join(source.mountPoint, `snapshots-${name}`)}
    targets: [disk]
`,
      );
    }
    const pointer = join(backups, 'data.latest');
    const pointerThere = () =>
      lstat(pointer).then(
        () => true,
        () => false,
      );

    // Alone in the directory, alpha's copies have the pointer.
    expectExit(await snapkeep(['run', '--config', configs.alpha!]), 0);
    const [alphaCopy] = await subvolumeNames(backups);
    expect(await readlink(pointer)).toBe(alphaCopy);

    // beta's first copy joins them: the pointer could name either's, so it goes.
    const beta = await snapkeep(['run', '--config', configs.beta!, '--json']);
    expectExit(beta, 0);
    const removed = steps(beta.stdout).find(
      (event) => event.step.kind === 'update-latest' && event.step.target === 'disk',
    );
    expect(removed).toMatchObject({ ok: true, step: { pointsTo: null } });
    expect(String(removed!.step.reason)).toContain("another subvolume's");
    expect(await pointerThere()).toBe(false);

    // And neither sets it again; each keeps its own pointer in its snapshot directory.
    for (const name of ['alpha', 'beta', 'alpha']) {
      await writeRandomData(join(source.mountPoint, name), 1, `${name}-more`);
      expectExit(await snapkeep(['run', '--config', configs[name]!]), 0);
      expect(await pointerThere()).toBe(false);
      const own = join(source.mountPoint, `snapshots-${name}`);
      expect(await readlink(join(own, 'data.latest'))).toBe((await subvolumeNames(own)).at(-1));
    }
  });
});
