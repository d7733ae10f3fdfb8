// Push to a real remote host over SSH: own sshd on 127.0.0.1 in its own mount namespace, own user,
// snapkeep's generated filter, authorized_keys line and sudoers rule (test/helpers/remote-host.ts).
import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/command.js';
import { snapkeep, events, expectExit } from '../helpers/cli.js';
import { useCleanups } from '../helpers/cleanups.js';
import { createLoopBtrfs, type LoopBtrfs } from '../helpers/loop-btrfs.js';
import { createSubvolume, treeChecksums, writeRandomData } from '../helpers/btrfs-tree.js';
import { sshConfig, sshUrl, type RemoteHost } from '../helpers/remote-host.js';
import { startSshWorld } from '../helpers/ssh-world.js';

let remote: RemoteHost;
let source: LoopBtrfs;
let base: string;
let configPath: string;
const cleanups = useCleanups(afterAll);

beforeAll(async () => {
  ({ remote, base, configPath } = await startSshWorld(cleanups, 'ssh'));
  source = await cleanups.loopBtrfs('ssh-src', 512);
});

/** sha256 of every file under a directory on the remote host. */
async function remoteChecksums(directory: string): Promise<Record<string, string>> {
  const result = await remote.run([
    'sh',
    '-c',
    'cd "$1" && find . -type f -print0 | sort -z | xargs -0 -r sha256sum',
    'x',
    directory,
  ]);
  expect(result.exitCode, result.stderr).toBe(0);
  const sums: Record<string, string> = {};
  for (const line of result.stdout.trim().split('\n').filter(Boolean)) {
    const [sum, name] = line.split(/\s+/, 2) as [string, string];
    sums[name.replace(/^\.\//, '')] = sum;
  }
  return sums;
}

describe('ssh target', () => {
  it('full then incremental push; copies are read-only received subvolumes with identical files', async () => {
    const data = join(source.mountPoint, 'data');
    await createSubvolume(data);
    await writeRandomData(data, 8);
    await runCommand({ file: 'mkdir', args: ['-p', join(base, 'state')] });
    const { writeFile } = await import('node:fs/promises');
    await writeFile(
      configPath,
      `state_dir: ${join(base, 'state')}
${sshConfig(remote)}targets:
  offsite:
    path: ${sshUrl(remote, `${remote.root}/laptop`)}
subvolumes:
  data:
    path: ${data}
    snapshot_dir: ${join(source.mountPoint, 'snapshots')}
    targets: [offsite]
`,
    );
    // The target directory is made by the admin (or remote setup); create it through the filter.
    const first = await snapkeep(['run', '--config', configPath, '--json']);
    expectExit(first, 10); // the directory does not exist yet: unreachable, clear message
    expect(first.stderr).toMatch(/laptop.*does not exist/);
    await remote.run(['mkdir', '-p', `${remote.root}/laptop`]);
    const verify = await snapkeep(['remote', 'verify', 'offsite', '--config', configPath]);
    expectExit(verify, 0);
    expect(verify.stdout).toMatch(/OK {3}a command outside the grammar is refused/);

    const full = await snapkeep(['run', '--config', configPath, '--json']);
    expectExit(full, 0);
    const sends = events(full.stdout).filter(
      (event) => event.type === 'step' && (event.step as { kind: string }).kind === 'send',
    );
    // The snapshot of the unreachable run and this run's: a full send, then an incremental one.
    expect(sends.map((event) => event.ok)).toEqual([true, true]);
    const [fullStep, secondStep] = sends.map(
      (event) => event.step as { name: string; parent?: { name: string } },
    );
    expect(fullStep!.parent).toBeUndefined();
    expect(secondStep!.parent?.name).toBe(fullStep!.name);
    const firstName = secondStep!.name;
    expect(await remoteChecksums(`${remote.root}/laptop/${firstName}`)).toEqual(await treeChecksums(data));

    await appendFile(join(data, 'file-0.bin'), 'changed on the laptop');
    const incremental = await snapkeep(['run', '--config', configPath, '--json']);
    expectExit(incremental, 0);
    const send = events(incremental.stdout).find(
      (event) => event.type === 'step' && (event.step as { kind: string }).kind === 'send',
    )!;
    const step = send.step as { name: string; parent?: { name: string } };
    expect(step.parent?.name).toBe(firstName);
    expect(await remoteChecksums(`${remote.root}/laptop/${step.name}`)).toEqual(await treeChecksums(data));
    const shown = await remote.run(['btrfs', 'subvolume', 'show', `${remote.root}/laptop/${step.name}`]);
    expect(shown.stdout).toMatch(/Flags:\s+readonly/);
    expect(shown.stdout).toMatch(/Received UUID:\s+[0-9a-f-]{36}/);

    // Every request snapkeep made was accepted by the filter.
    const log = await readFile(remote.filterLog, 'utf8');
    expect(log).toMatch(/ACCEPT: sudo -n btrfs receive/);
    expect(
      log
        .split('\n')
        .filter(
          (line) =>
            line.includes('REJECT') && !line.includes('subvolume list -r /') && !line.includes(': id'),
        ),
    ).toEqual([]);
  });

  it('an unreachable host aborts only its own jobs (exit 10, clear message); the local target gets its copy', async () => {
    const local = await createLoopBtrfs('ssh-local', 512);
    try {
      await runCommand({ file: 'mkdir', args: ['-p', join(local.mountPoint, 'copies')] });
      const text = await readFile(configPath, 'utf8');
      const twoTargets = text
        .replace('targets:\n', `targets:\n  disk:\n    path: ${join(local.mountPoint, 'copies')}\n`)
        .replace('targets: [offsite]', 'targets: [offsite, disk]');
      const { writeFile } = await import('node:fs/promises');
      const twoPath = join(base, 'two.yaml');
      await writeFile(twoPath, twoTargets);
      await remote.stopSshd();
      const result = await snapkeep(['run', '--config', twoPath, '--json']);
      expectExit(result, 10);
      expect(result.stderr).toMatch(
        /UNREACHABLE: data → offsite: cannot connect to .*Connection refused \(is sshd running/,
      );
      const steps = events(result.stdout).filter((event) => event.type === 'step');
      expect(steps.some((event) => (event.step as { target?: string }).target === 'disk' && event.ok)).toBe(
        true,
      );
      expect(steps.every((event) => (event.step as { target?: string }).target !== 'offsite')).toBe(true);
    } finally {
      await remote.startSshd();
      await local.cleanup();
    }
  });

  for (const interruption of ['ssh killed', 'sshd stopped'] as const) {
    it(`${interruption} mid-transfer: the run fails clearly, the next run cleans up and completes byte-identically`, async () => {
      const data = join(source.mountPoint, 'data');
      await writeRandomData(data, 160, `big-${interruption.replace(' ', '-')}`);
      const running = snapkeep(['run', '--config', configPath, '--json']);
      // Wait until the stream is flowing, then cut it.
      const deadline = Date.now() + 20_000;
      let cut = false;
      while (!cut && Date.now() < deadline) {
        const ps = await runCommand({ file: 'ps', args: ['-eo', 'pid=,args='] });
        const sshReceive = ps.stdout
          .split('\n')
          .find(
            (line) => line.includes('ssh ') && line.includes('btrfs receive') && line.includes(remote.root),
          );
        // Flowing: the local btrfs send has written part of the stream (an event, not a delay).
        const send = ps.stdout
          .split('\n')
          .find(
            (line) =>
              /\bbtrfs send\b/.test(line) && line.includes(source.mountPoint) && !/\bsh -c\b/.test(line),
          );
        const sendPid = send ? Number(send.trim().split(/\s+/)[0]) : undefined;
        const io = sendPid ? await readFile(`/proc/${sendPid}/io`, 'utf8').catch(() => '') : '';
        if (sshReceive && Number(/^wchar:\s*(\d+)/m.exec(io)?.[1] ?? 0) > 0) {
          if (interruption === 'ssh killed')
            process.kill(Number(sshReceive.trim().split(/\s+/)[0]), 'SIGKILL');
          else await remote.stopSshd();
          cut = true;
        } else await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(cut).toBe(true);
      const failed = await running;
      expect([3, 10]).toContain(failed.exitCode);
      expect(failed.stderr).toMatch(/offsite/);
      if (interruption === 'sshd stopped') await remote.startSshd();

      const next = await snapkeep(['run', '--config', configPath, '--json']);
      expectExit(next, 0);
      const sends = events(next.stdout).filter(
        (event) => event.type === 'step' && (event.step as { kind: string }).kind === 'send',
      );
      expect(sends.length).toBeGreaterThan(0);
      const last = sends.at(-1)!.step as { name: string };
      expect(await remoteChecksums(`${remote.root}/laptop/${last.name}`)).toEqual(await treeChecksums(data));
      // Nothing writable or without a received UUID is left on the target.
      const listed = await remote.run(['btrfs', 'subvolume', 'list', '-o', `${remote.root}/laptop`]);
      const readonly = await remote.run(['btrfs', 'subvolume', 'list', '-r', '-o', `${remote.root}/laptop`]);
      expect(listed.stdout.trim().split('\n').length).toBe(readonly.stdout.trim().split('\n').length);
    });
  }

  it('pull mode: a subvolume on the remote host is snapshotted there and fetched here, full then incremental', async () => {
    const machine = `${remote.root}/machine`;
    await remote.run(['mkdir', '-p', machine]);
    expect((await remote.run(['btrfs', 'subvolume', 'create', `${machine}/data`])).exitCode).toBe(0);
    await remote.run([
      'sh',
      '-c',
      'head -c 3000000 /dev/urandom > "$1/a.bin" && echo one > "$1/b.txt"',
      'x',
      `${machine}/data`,
    ]);
    const copies = join(source.mountPoint, 'from-machine');
    await runCommand({ file: 'mkdir', args: ['-p', copies] });
    const { writeFile } = await import('node:fs/promises');
    const pullConfig = join(base, 'pull.yaml');
    await writeFile(
      pullConfig,
      `state_dir: ${join(base, 'pull-state')}
${sshConfig(remote)}targets:
  here:
    path: ${copies}
subvolumes:
  machine-data:
    path: ${sshUrl(remote, `${machine}/data`)}
    snapshot_dir: ${machine}/snapshots
    targets: [here]
`,
    );
    const first = await snapkeep(['run', '--config', pullConfig, '--json']);
    expectExit(first, 0);
    const [full] = events(first.stdout)
      .filter((event) => event.type === 'step' && (event.step as { kind: string }).kind === 'send')
      .map((event) => event.step as { name: string; parent?: { name: string } });
    expect(full!.parent).toBeUndefined();
    expect(
      (await remote.run(['btrfs', 'subvolume', 'show', `${machine}/snapshots/${full!.name}`])).stdout,
    ).toMatch(/Flags:\s+readonly/);
    expect(await treeChecksums(join(copies, full!.name))).toEqual(await remoteChecksums(`${machine}/data`));

    await remote.run(['sh', '-c', 'echo two >> "$1/b.txt"', 'x', `${machine}/data`]);
    const second = await snapkeep(['run', '--config', pullConfig, '--json']);
    expectExit(second, 0);
    const [incremental] = events(second.stdout)
      .filter((event) => event.type === 'step' && (event.step as { kind: string }).kind === 'send')
      .map((event) => event.step as { name: string; parent?: { name: string } });
    expect(incremental!.parent?.name).toBe(full!.name);
    expect(await treeChecksums(join(copies, incremental!.name))).toEqual(
      await remoteChecksums(`${machine}/data`),
    );

    await remote.stopSshd();
    try {
      const unreachable = await snapkeep(['run', '--config', pullConfig]);
      expectExit(unreachable, 10);
      expect(unreachable.stderr).toMatch(/UNREACHABLE: machine-data: cannot connect to .*Connection refused/);
    } finally {
      await remote.startSshd();
    }
  });

  it('compression: zstd on both ends, push and pull back byte-identically', async () => {
    const zdata = join(source.mountPoint, 'zdata');
    await createSubvolume(zdata);
    await writeRandomData(zdata, 4);
    const { writeFile } = await import('node:fs/promises');
    // Compressible too: zstd must really be in the path for the stream to shrink.
    await writeFile(join(zdata, 'text.txt'), 'snapkeep '.repeat(200_000));
    await remote.run(['mkdir', '-p', `${remote.root}/zipped`]);
    const zconfig = join(base, 'zstd.yaml');
    await writeFile(
      zconfig,
      `state_dir: ${join(base, 'zstd-state')}
${sshConfig(remote)}  compression: zstd
targets:
  offsite:
    path: ${sshUrl(remote, `${remote.root}/zipped`)}
subvolumes:
  zdata:
    path: ${zdata}
    snapshot_dir: ${join(source.mountPoint, 'zsnapshots')}
    targets: [offsite]
`,
    );
    const pushed = await snapkeep(['run', '--config', zconfig, '--json']);
    expectExit(pushed, 0);
    const send = events(pushed.stdout).find(
      (event) => event.type === 'step' && (event.step as { kind: string }).kind === 'send',
    )!;
    const name = (send.step as { name: string }).name;
    expect(await remoteChecksums(`${remote.root}/zipped/${name}`)).toEqual(await treeChecksums(zdata));
    const pulled = await snapkeep([
      'pull',
      'offsite',
      'zdata',
      '--into',
      join(source.mountPoint, 'zpulled'),
      '--config',
      zconfig,
    ]);
    expectExit(pulled, 0);
    expect(await treeChecksums(join(source.mountPoint, 'zpulled', name))).toEqual(await treeChecksums(zdata));
    const log = await readFile(remote.filterLog, 'utf8');
    expect(log).toMatch(/ACCEPT: zstd -d -c \| sudo -n btrfs receive \S+\/zipped/);
    expect(log).toMatch(
      new RegExp(`ACCEPT: sudo -n btrfs send -q \\S+/zipped/${name.replace(/\./g, '\\.')} \\| zstd -c`),
    );
  });
});
