// The send stream reader on streams built here byte by byte (test/integration/send-stream.test.ts
// checks it against real streams and `btrfs receive --dump`).
import { describe, expect, it } from 'vitest';
import {
  crc32c,
  decodeName,
  nameBytes,
  pathBelow,
  printableName,
  readStreamChanges,
  SendStreamDecoder,
  type SendOperation,
} from '../../../src/btrfs/send-stream.js';

// send.h numbers, written out again so a renumbering in the reader shows.
const C = { subvol: 1, snapshot: 2, mkfile: 3, rename: 9, link: 10, unlink: 11, setXattr: 13, write: 15 };
const Cmore = { chmod: 18, utimes: 20, end: 21, updateExtent: 22, fallocate: 23, encodedWrite: 25 };
const A = { uuid: 1, ctransid: 2, size: 4, mode: 5, xattrName: 13, xattrData: 14, path: 15, pathTo: 16 };
const Amore = { pathLink: 17, fileOffset: 18, data: 19, unencodedFileLength: 27, unencodedLength: 28 };

const u64 = (value: number): Buffer => {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64LE(BigInt(value));
  return bytes;
};

function tlv(type: number, value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  const header = Buffer.alloc(4);
  header.writeUInt16LE(type, 0);
  header.writeUInt16LE(bytes.length, 2);
  return Buffer.concat([header, bytes]);
}

/** Version 2's DATA: a type and no length; it takes the rest of the command. */
function dataV2(bytes: Buffer): Buffer {
  const header = Buffer.alloc(2);
  header.writeUInt16LE(Amore.data, 0);
  return Buffer.concat([header, bytes]);
}

function command(code: number, ...attributes: Buffer[]): Buffer {
  const body = Buffer.concat(attributes);
  const header = Buffer.alloc(10);
  header.writeUInt32LE(body.length, 0);
  header.writeUInt16LE(code, 4);
  const whole = Buffer.concat([header, body]);
  whole.writeUInt32LE(crc32c(whole), 6);
  return whole;
}

function stream(version: number, ...commands: Buffer[]): Buffer {
  const header = Buffer.alloc(17);
  header.write('btrfs-stream\0', 0, 'latin1');
  header.writeUInt32LE(version, 13);
  return Buffer.concat([header, ...commands]);
}

const snapshot = command(
  C.snapshot,
  tlv(A.path, 's2'),
  tlv(A.uuid, Buffer.alloc(16, 1)),
  tlv(A.ctransid, u64(8)),
);
const end = command(Cmore.end);
const pathOnly = (code: number, path: string | Buffer): Buffer => command(code, tlv(A.path, path));
const rename = (from: string, to: string): Buffer => command(C.rename, tlv(A.path, from), tlv(A.pathTo, to));
const updateExtent = (path: string, offset: number, length: number): Buffer =>
  command(
    Cmore.updateExtent,
    tlv(A.path, path),
    tlv(Amore.fileOffset, u64(offset)),
    tlv(A.size, u64(length)),
  );

function chunksOf(bytes: Buffer, size: number): AsyncIterable<Buffer> {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
  return (async function* () {
    for (const chunk of chunks) yield await Promise.resolve(chunk);
  })();
}

const read = (bytes: Buffer, chunkSize = 65536) => readStreamChanges(chunksOf(bytes, chunkSize));

function operationsOf(bytes: Buffer): SendOperation[] {
  const operations: SendOperation[] = [];
  const decoder = new SendStreamDecoder((operation) => operations.push(operation));
  decoder.push(bytes);
  decoder.finish();
  return operations;
}

describe('send stream: what it touches', () => {
  it('follows renames to final names and keeps written ranges', async () => {
    const bytes = stream(
      1,
      snapshot,
      updateExtent('f', 2498560, 1442),
      command(Cmore.chmod, tlv(A.path, 'a b'), tlv(A.mode, u64(0o600))),
      rename('dir', 'dir2'),
      pathOnly(C.unlink, 'link'),
      pathOnly(C.mkfile, 'o261-8-0'),
      rename('o261-8-0', 'dir2/né'),
      updateExtent('dir2/né', 0, 4),
      pathOnly(Cmore.utimes, ''),
      end,
    );
    const changes = await read(bytes);
    expect([...changes.paths].sort()).toEqual(['', 'a b', 'dir', 'dir2', 'dir2/né', 'f', 'link', 'o261-8-0']);
    expect(Object.fromEntries(changes.writes)).toEqual({ f: [[2498560, 1442]], 'dir2/né': [[0, 4]] });
  });

  it('moves what is below a renamed directory, written ranges included', async () => {
    const bytes = stream(
      1,
      snapshot,
      updateExtent('a/b/c', 0, 10),
      pathOnly(Cmore.utimes, 'a/b'),
      rename('a', 'z'),
      rename('z/b', 'y'),
      end,
    );
    const changes = await read(bytes);
    expect([...changes.paths].sort()).toEqual(['', 'a', 'y', 'y/c', 'z', 'z/b']);
    expect(Object.fromEntries(changes.writes)).toEqual({ 'y/c': [[0, 10]] });
  });

  it("takes a link's existing path and names with newlines and spaces as they are", async () => {
    const bytes = stream(
      1,
      snapshot,
      command(C.link, tlv(A.path, 'new\nline'), tlv(Amore.pathLink, 'sp ace')),
      pathOnly(C.unlink, 'sp ace'),
      command(C.link, tlv(A.path, 'hl2'), tlv(Amore.pathLink, 'hl')),
      end,
    );
    expect([...(await read(bytes)).paths].sort()).toEqual(['', 'hl', 'hl2', 'new\nline', 'sp ace']);
  });

  it('an xattr whose name and value look like other records touches its file only', async () => {
    const bytes = stream(
      1,
      snapshot,
      command(
        C.setXattr,
        tlv(A.path, 'f'),
        tlv(A.xattrName, 'user.x\nrename          ./s2/a dest=./s2/b'),
        tlv(A.xattrData, 'value with\nnewline len=18\nunlink ./s2/etc'),
      ),
      end,
    );
    const changes = await read(bytes);
    expect([...changes.paths].sort()).toEqual(['', 'f']);
    expect(changes.writes.size).toBe(0);
  });

  it("reads version 1's DATA by its length and version 2's as the rest of the command", async () => {
    const data = Buffer.alloc(300, 7);
    const v1 = stream(
      1,
      snapshot,
      command(C.write, tlv(A.path, 'f'), tlv(Amore.fileOffset, u64(4096)), tlv(Amore.data, data)),
      end,
    );
    const v2 = stream(
      2,
      snapshot,
      command(C.write, tlv(A.path, 'f'), tlv(Amore.fileOffset, u64(4096)), dataV2(data)),
      command(
        Cmore.encodedWrite,
        tlv(A.path, 'g'),
        tlv(Amore.fileOffset, u64(0)),
        tlv(Amore.unencodedFileLength, u64(131072)),
        tlv(Amore.unencodedLength, u64(131072)),
        dataV2(Buffer.alloc(4096)),
      ),
      command(
        Cmore.fallocate,
        tlv(A.path, 'h'),
        tlv(25, Buffer.alloc(4)),
        tlv(Amore.fileOffset, u64(8192)),
        tlv(A.size, u64(4096)),
      ),
      end,
    );
    expect(Object.fromEntries((await read(v1)).writes)).toEqual({ f: [[4096, 300]] });
    expect(Object.fromEntries((await read(v2)).writes)).toEqual({
      f: [[4096, 300]],
      g: [[0, 131072]],
      h: [[8192, 4096]],
    });
    // The same bytes read as version 1 would take DATA's first two bytes for a length.
    await expect(read(Buffer.concat([stream(1), v2.subarray(17)]))).rejects.toThrow(/unreadable/);
  });

  it('gives the same answer however the stream is cut into chunks', async () => {
    const bytes = stream(
      2,
      snapshot,
      rename('a', 'b c'),
      command(C.write, tlv(A.path, 'b c/f'), tlv(Amore.fileOffset, u64(0)), dataV2(Buffer.alloc(5000, 1))),
      end,
    );
    const whole = await read(bytes);
    for (const size of [1, 2, 9, 10, 17, 100]) {
      const changes = await read(bytes, size);
      expect([...changes.paths]).toEqual([...whole.paths]);
      expect([...changes.writes]).toEqual([...whole.writes]);
    }
  });
});

describe('send stream: never a silently shorter list', () => {
  const valid = stream(
    1,
    snapshot,
    pathOnly(C.mkfile, 'o257-5-0'),
    rename('o257-5-0', 'file'),
    updateExtent('file', 0, 100),
    end,
  );

  it('a stream cut at any byte is an error', async () => {
    for (let length = 0; length < valid.length; length++)
      await expect(read(valid.subarray(0, length), 7), `cut at ${length}`).rejects.toThrow(
        /unreadable btrfs send stream at byte \d+: /,
      );
    await expect(read(valid)).resolves.toBeDefined();
  });

  it('a stream cut exactly between commands names the missing end', async () => {
    await expect(read(valid.subarray(0, valid.length - end.length))).rejects.toThrow(
      /ends without its end command: it was cut short/,
    );
  });

  it('a changed byte fails the checksum', async () => {
    const bad = Buffer.from(valid);
    bad[valid.indexOf('file') + 1] = 0x6a; // "fjle"
    await expect(read(bad)).rejects.toThrow(/checksum 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}/);
  });

  const cases: [string, Buffer, RegExp][] = [
    ['not a stream', Buffer.concat([Buffer.from('btrfs-strEAM\0'), valid.subarray(13)]), /does not start/],
    ['version 4', stream(4, snapshot, end), /protocol version 4 is not one of 1, 2, 3/],
    ['version 0', stream(0, snapshot, end), /protocol version 0/],
    [
      'a version 2 command in version 1',
      stream(1, snapshot, pathOnly(Cmore.fallocate, 'f'), end),
      /command 23 is not a command of protocol version 1/,
    ],
    [
      'an unknown command',
      stream(3, snapshot, pathOnly(27, 'f'), end),
      /command 27 is not a command of protocol version 3/,
    ],
    ['command 0', stream(1, snapshot, pathOnly(0, 'f'), end), /command 0 is not/],
    [
      'a version 2 attribute in version 1',
      stream(1, snapshot, command(C.mkfile, tlv(A.path, 'f'), tlv(25, u64(1))), end),
      /attribute 25 is not one of protocol version 1/,
    ],
    [
      'attribute 0',
      stream(1, snapshot, command(C.mkfile, tlv(A.path, 'f'), tlv(0, u64(1))), end),
      /attribute 0 is not/,
    ],
    [
      'an attribute longer than its command',
      stream(1, snapshot, command(C.mkfile, tlv(A.path, 'f').subarray(0, 4)), end),
      /attribute 15 claims 1 bytes, 0 are left/,
    ],
    [
      'half an attribute header',
      stream(1, snapshot, command(C.mkfile, tlv(A.path, 'f'), Buffer.of(15)), end),
      /an attribute is cut short/,
    ],
    [
      'an attribute twice',
      stream(1, snapshot, command(C.mkfile, tlv(A.path, 'f'), tlv(A.path, 'g')), end),
      /attribute 15 appears twice/,
    ],
    [
      'a command without its path',
      stream(1, snapshot, command(C.mkfile), end),
      /mkfile without its attribute 15/,
    ],
    [
      'a rename without its new path',
      stream(1, snapshot, pathOnly(C.rename, 'a'), end),
      /rename without its attribute 16/,
    ],
    [
      'an offset of 4 bytes',
      stream(
        1,
        snapshot,
        command(
          Cmore.updateExtent,
          tlv(A.path, 'f'),
          tlv(Amore.fileOffset, Buffer.alloc(4)),
          tlv(A.size, u64(1)),
        ),
        end,
      ),
      /attribute 18 has 4 bytes, not 8/,
    ],
    [
      'an offset beyond 2^53',
      stream(
        1,
        snapshot,
        command(
          Cmore.updateExtent,
          tlv(A.path, 'f'),
          tlv(Amore.fileOffset, Buffer.alloc(8, 0xff)),
          tlv(A.size, u64(1)),
        ),
        end,
      ),
      /attribute 18 is 18446744073709551615/,
    ],
    [
      'a command before the snapshot',
      stream(1, pathOnly(C.mkfile, 'f'), snapshot, end),
      /mkfile before the subvol or snapshot command/,
    ],
    ['an end before the snapshot', stream(1, end), /end before the subvol or snapshot command/],
    ['two snapshots', stream(1, snapshot, snapshot, end), /a second snapshot command/],
    ['data after the end', Buffer.concat([valid, Buffer.of(0)]), /data after the end command/],
    ['a second stream after the end', Buffer.concat([valid, valid]), /data after the end command/],
    ['an empty stream', Buffer.alloc(0), /the stream is empty/],
  ];
  it.each(cases)('%s is an error', async (_name, bytes, message) => {
    await expect(read(bytes)).rejects.toThrow(message);
  });

  it('a command length no send writes is refused before anything is buffered', () => {
    const header = Buffer.alloc(10);
    header.writeUInt32LE(0xfffffff0, 0);
    const decoder = new SendStreamDecoder(() => undefined);
    expect(() => {
      decoder.push(Buffer.concat([stream(1), header]));
    }).toThrow(/a command claims 4294967280 bytes/);
  });

  it('names the byte offset of the command that is wrong', () => {
    const bytes = stream(1, snapshot, command(C.mkfile), end);
    expect(() => operationsOf(bytes)).toThrow(`at byte ${17 + snapshot.length}: mkfile without`);
  });
});

describe('file names that are not UTF-8', () => {
  const samples = [
    Buffer.from([0xff, 0xfe, 0x20, 0x6e]),
    Buffer.from('caf\xe9', 'latin1'), // latin-1 é
    Buffer.from([0xc3]), // a sequence cut short
    Buffer.from([0xe0, 0x80, 0x80]), // overlong
    Buffer.from([0xed, 0xa0, 0x80]), // an encoded surrogate
    Buffer.from([0xf4, 0x90, 0x80, 0x80]), // beyond U+10FFFF
    Buffer.concat([Buffer.from('né/', 'utf8'), Buffer.from([0xff]), Buffer.from('💀', 'utf8')]),
  ];

  it('decode to strings that give the same bytes back', () => {
    for (const bytes of samples)
      expect(nameBytes(decodeName(bytes)).equals(bytes), bytes.toString('hex')).toBe(true);
  });

  it('never decode to a name that is valid UTF-8 (the lossy U+FFFD would)', () => {
    const replacement = Buffer.from('\uFFFD', 'utf8');
    expect(decodeName(Buffer.from([0xff]))).not.toBe(decodeName(replacement));
    expect(decodeName(Buffer.from([0xfe]))).not.toBe(decodeName(Buffer.from([0xff])));
    for (const bytes of samples) expect(decodeName(bytes)).not.toBe(bytes.toString('utf8'));
  });

  it('decode a path as its components decode, so renames of a parent move them', () => {
    const parent = Buffer.from([0x64, 0xc3]); // "d" and a cut-short sequence
    const child = Buffer.from('\xa9x', 'latin1'); // would complete it, were the slash not between
    const whole = Buffer.concat([parent, Buffer.from('/'), child]);
    expect(decodeName(whole)).toBe(`${decodeName(parent)}/${decodeName(child)}`);
  });

  it('reach the filesystem as bytes, and messages as \\xNN', () => {
    const name = decodeName(Buffer.concat([Buffer.from('dir/big'), Buffer.of(0xff), Buffer.from('.bin')]));
    const path = pathBelow('/mnt/snap', name);
    expect(Buffer.isBuffer(path)).toBe(true);
    expect(
      (path as Buffer).equals(
        Buffer.concat([Buffer.from('/mnt/snap/dir/big'), Buffer.of(0xff), Buffer.from('.bin')]),
      ),
    ).toBe(true);
    expect(printableName(name)).toBe('dir/big\\xff.bin');
  });

  it('valid UTF-8, also characters whose low surrogate is in the escape range, stays a string', () => {
    const skull = '💀'; // U+1F480: the surrogate pair D83D DC80
    expect(decodeName(Buffer.from(`a/${skull}`, 'utf8'))).toBe(`a/${skull}`);
    expect(pathBelow('/mnt/snap', `a/${skull}`)).toBe(`/mnt/snap/a/${skull}`);
    expect(pathBelow('/mnt/snap', '')).toBe('/mnt/snap');
    expect(printableName(skull)).toBe(skull);
  });

  it('are decoded so in a stream', async () => {
    const latin = Buffer.from('caf\xe9', 'latin1');
    const bytes = stream(
      1,
      snapshot,
      pathOnly(C.mkfile, 'o1'),
      command(C.rename, tlv(A.path, 'o1'), tlv(A.pathTo, latin)),
      end,
    );
    const changes = await read(bytes);
    const names = [...changes.paths].filter((path) => path !== '' && path !== 'o1');
    expect(names).toHaveLength(1);
    expect(nameBytes(names[0]!).equals(latin)).toBe(true);
    expect(names[0]).not.toBe('caf\uFFFD');
  });
});
