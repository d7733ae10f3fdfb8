// src/btrfs/send-stream.ts against the real thing: streams `btrfs send` writes for every kind of
// change (all file types, renames of files and directories, deletes, hard links, xattrs, clones,
// holes, names with spaces, newlines and bytes that are not UTF-8), in both protocols, with and
// without data, read by the parser and by `btrfs receive --dump`. Where the dump is unambiguous,
// both must see the same operations in the same order (so the command and attribute numbers are
// btrfs-progs' own), and the same paths and ranges as the dump reading snapkeep used before.
import { createReadStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runChecked, runCommand } from '../../src/exec/command.js';
import {
  nameBytes,
  readStreamChanges,
  SendStreamDecoder,
  type SendOperation,
  type StreamChanges,
} from '../../src/btrfs/send-stream.js';
import { useCleanups } from '../helpers/cleanups.js';
import { requireTools } from '../helpers/loop-btrfs.js';
import { createSubvolume, snapshotAs } from '../helpers/btrfs-tree.js';
import { dumpOperations, parseStreamDump, type DumpedOperation } from '../helpers/stream-dump.js';

const cleanups = useCleanups();

beforeAll(async () => {
  await requireTools(['btrfs', 'mkfs.btrfs', 'python3']);
});

/** The first state: every file type, odd names, xattrs, links. `d` is the subvolume. */
const first = String.raw`
import os, socket, sys
d = os.fsencode(sys.argv[1])
p = lambda *names: os.path.join(d, *[n if isinstance(n, bytes) else n.encode() for n in names])
def write(path, data, mode='wb'):
    with open(path, mode) as f: f.write(data)
write(p('plain'), b'plain text')
write(p('with space'), b'two names')
write(p('new\nline'), b'a newline in its name')
write(p(b'caf\xe9'), b'latin-1')
os.makedirs(p(b'\xff\xfe dir', 'inner'))
write(p(b'\xff\xfe dir', 'inner', b'f\xff'), b'below a name that is not UTF-8')
os.makedirs(p('deep', 'er', 'still'))
write(p('deep', 'er', 'still', 'file'), b'deep')
write(p('big'), bytes([3]) * 1000000)
write(p('compressible'), b'abc' * 300000)
write(p('gone'), b'deleted later')
os.makedirs(p('gone dir'))
write(p('gone dir', 'x'), b'x')
write(p('linked'), b'one inode')
write(p('perm'), b'p')
write(p('trunc'), bytes([5]) * 200000)
os.symlink('plain', p('sym'))
os.mkfifo(p('a fifo'))
os.mknod(p('null dev'), 0o600 | 0o020000, os.makedev(1, 3))
s = socket.socket(socket.AF_UNIX); s.bind(p('sock et')); s.close()
os.setxattr(p('plain'), 'user.plain', b'value')
os.setxattr(p('with space'), 'user.old', b'old')
`;

/** The second: renames (of directories too), deletes, links, chmod/chown, xattrs, holes, new nodes. */
const second = String.raw`
import os, socket, sys
d = os.fsencode(sys.argv[1])
p = lambda *names: os.path.join(d, *[n if isinstance(n, bytes) else n.encode() for n in names])
def write(path, data, mode='wb'):
    with open(path, mode) as f: f.write(data)
os.rename(p('deep'), p('moved deep'))
os.rename(p(b'\xff\xfe dir'), p(b'\xfe\xff dir2'))
write(p(b'\xfe\xff dir2', 'inner', b'f\xff'), b'changed', 'ab')
os.unlink(p('gone'))
os.unlink(p('gone dir', 'x')); os.rmdir(p('gone dir'))
os.link(p('linked'), p('second name'))
os.link(p('linked'), p('new\nlink'))
os.link(p('with space'), p('kept'))
os.rename(p('with space'), p('renamed one'))
write(p(b'n\xe9w'), b'new, latin-1')
write(p('tab\there'), b'tab')
write(p('back\\slash'), b'backslash')
os.chmod(p('perm'), 0o600)
os.chown(p('perm'), 1234, 1234)
os.setxattr(p('big'), 'user.added', b'plain')
os.removexattr(p('renamed one'), 'user.old')
with open(p('big'), 'r+b') as f:
    f.seek(4096 * 10); f.write(b'x' * 100)
    f.truncate(3000000)
os.truncate(p('trunc'), 1000)
os.symlink('../a target with spaces', p('sym link'))
os.mkfifo(p('moved deep', 'a fifo'))
os.mknod(p('moved deep', 'zero dev'), 0o600 | 0o020000, os.makedev(1, 5))
s = socket.socket(socket.AF_UNIX); s.bind(p('moved deep', 'sock et')); s.close()
write(p('plain'), b'PLAIN', 'r+b')
`;

/** The third: an xattr whose value holds a newline — the dump's text splits that record. */
const third = String.raw`
import os, sys
d = os.fsencode(sys.argv[1])
os.setxattr(os.path.join(d, b'plain'), 'user.with space', b'value with\nnewline')
os.rename(os.path.join(d, b'sym link'), os.path.join(d, b'sym link moved'))
`;

const variants: Record<string, string[]> = {
  'no data, protocol 1 (what verification reads)': ['--no-data'],
  'no data, protocol 2': ['--no-data', '--proto', '2'],
  'data, protocol 1': [],
  'data, protocol 2': ['--proto', '2'],
  'compressed data, protocol 2': ['--proto', '2', '--compressed-data'],
};

interface Streams {
  readonly directory: string;
  readonly snapshots: string;
}

async function makeSnapshots(): Promise<Streams> {
  const fs = await cleanups.loopBtrfs('stream', 512, ['compress=zstd']);
  const data = join(fs.mountPoint, 'd');
  const snapshots = join(fs.mountPoint, 'snapshots');
  await createSubvolume(data);
  for (const [index, script] of [first, second, third].entries()) {
    await runChecked({ file: 'python3', args: ['-c', script, data] });
    if (index === 1) {
      await runChecked({
        file: 'cp',
        args: ['--reflink=always', join(data, 'big'), join(data, 'big clone')],
      });
    }
    await snapshotAs(data, join(snapshots, `s${index}`));
  }
  const directory = join(fs.mountPoint, 'streams');
  await mkdir(directory);
  return { directory, snapshots };
}

async function sendTo(
  streams: Streams,
  file: string,
  snapshot: string,
  parent: string | undefined,
  flags: string[],
) {
  const path = join(streams.directory, file);
  await runChecked({
    file: 'btrfs',
    args: [
      'send',
      '-q',
      ...flags,
      '-f',
      path,
      ...(parent ? ['-p', join(streams.snapshots, parent)] : []),
      join(streams.snapshots, snapshot),
    ],
  });
  return path;
}

async function parsed(path: string): Promise<{ operations: SendOperation[]; changes: StreamChanges }> {
  const operations: SendOperation[] = [];
  const decoder = new SendStreamDecoder((operation) => operations.push(operation));
  for await (const chunk of createReadStream(path, { highWaterMark: 4096 })) decoder.push(chunk as Buffer);
  decoder.finish();
  return { operations, changes: await readStreamChanges(createReadStream(path)) };
}

/** Operations comparable across both readings: paths as hex of their bytes. */
const fromParser = (operation: SendOperation) => ({
  command: operation.command,
  path: nameBytes(operation.path).toString('hex'),
  destination:
    operation.destination === undefined ? undefined : nameBytes(operation.destination).toString('hex'),
  range: operation.range,
});
const fromDump = (operation: DumpedOperation) => ({
  command: operation.command,
  path: operation.path.toString('hex'),
  destination: operation.destination?.toString('hex'),
  range: operation.range,
});

/** The parser's changes with paths decoded as the dump reading did (lossy UTF-8). */
function lossy(changes: StreamChanges): { paths: string[]; writes: [string, unknown][] } {
  const decode = (path: string): string => nameBytes(path).toString('utf8');
  return {
    paths: [...changes.paths].map(decode).sort(),
    writes: [...changes.writes].map(([path, ranges]) => [decode(path), ranges] as [string, unknown]).sort(),
  };
}

describe('the send stream parser and btrfs receive --dump', () => {
  it('see the same operations, paths and ranges in real streams of every kind of change', async () => {
    const streams = await makeSnapshots();
    const pairs: [string, string | undefined][] = [
      ['s0', undefined],
      ['s1', 's0'],
      ['s1', undefined],
    ];
    let compared = 0;
    const commands = new Set<string>();
    for (const [snapshot, parent] of pairs) {
      for (const [variant, flags] of Object.entries(variants)) {
        const label = `${parent ? `${parent} → ` : 'full '}${snapshot}, ${variant}`;
        const path = await sendTo(
          streams,
          `${snapshot}-${parent ?? 'full'}-${compared}`,
          snapshot,
          parent,
          flags,
        );
        const dump = (await runChecked({ file: 'btrfs', args: ['receive', '--dump', '-f', path] })).stdout;
        const { operations, changes } = await parsed(path);
        for (const operation of operations) commands.add(operation.command);
        expect(operations.map(fromParser), label).toEqual(dumpOperations(dump).map(fromDump));
        const before = parseStreamDump(dump);
        const mine = lossy(changes);
        expect(mine.paths, label).toEqual([...before.paths].sort());
        // The dump reading lost encoded writes' ranges ("len=4096," is not a number).
        if (!flags.includes('--compressed-data'))
          expect(mine.writes, label).toEqual([...before.writes].sort());
        compared++;
      }
    }
    expect(compared).toBe(15);
    // Every command these changes make, so none was compared vacuously.
    expect([...commands].sort()).toEqual(
      [
        'chmod',
        'chown',
        'clone',
        'encoded_write',
        'link',
        'mkdir',
        'mkfifo',
        'mkfile',
        'mknod',
        'mksock',
        'remove_xattr',
        'rename',
        'rmdir',
        'set_xattr',
        'snapshot',
        'subvol',
        'symlink',
        'truncate',
        'unlink',
        'update_extent',
        'utimes',
        'write',
      ].sort(),
    );

    // An xattr value with a newline: the dump's record splits and cannot be read; the stream can.
    for (const [variant, flags] of Object.entries(variants)) {
      const path = await sendTo(streams, `s2-s1-${variant.length}-${flags.length}`, 's2', 's1', flags);
      const dump = (await runChecked({ file: 'btrfs', args: ['receive', '--dump', '-f', path] })).stdout;
      expect(() => parseStreamDump(dump), variant).toThrow(/unexpected path in a stream dump: "len=18"/);
      const { operations, changes } = await parsed(path);
      expect(operations.find((operation) => operation.command === 'set_xattr')?.path, variant).toBe('plain');
      expect([...changes.paths].sort(), variant).toEqual(['', 'plain', 'sym link', 'sym link moved']);
    }
  });

  it('a stream btrfs send cut short is an error, not a shorter list', async () => {
    const fs = await cleanups.loopBtrfs('stream-cut', 256);
    const data = join(fs.mountPoint, 'd');
    await createSubvolume(data);
    await runChecked({ file: 'python3', args: ['-c', first, data] });
    await snapshotAs(data, join(fs.mountPoint, 's0'));
    const path = join(fs.mountPoint, 'stream');
    await runChecked({
      file: 'btrfs',
      args: ['send', '-q', '--no-data', '-f', path, join(fs.mountPoint, 's0')],
    });
    const cut = join(fs.mountPoint, 'cut');
    const whole = await readFile(path);
    for (const length of [whole.length - 1, whole.length - 10, Math.floor(whole.length / 2)]) {
      await writeFile(cut, whole.subarray(0, length));
      await expect(readStreamChanges(createReadStream(cut)), `cut at ${length}`).rejects.toThrow(
        /unreadable btrfs send stream/,
      );
      // btrfs receive agrees that it is broken.
      const received = await runCommand({ file: 'btrfs', args: ['receive', '--dump', '-f', cut] });
      expect(received.exitCode).not.toBe(0);
    }
  });
});
