// A btrfs send stream read as it comes (pure): the paths it touches and the byte ranges it writes,
// which verify-copy.ts compares between a snapshot and its received copy.
//
// Why the binary stream and not `btrfs receive --dump`: the dump's text cannot be parsed safely.
// It prints xattr names and values raw, so a value holding a newline splits one record into two
// lines (and a crafted value could pass for other records); the stream has a length for
// everything.
//
// The format (btrfs-progs kernel-shared/send.h and common/send-stream.c, the kernel's
// fs/btrfs/send.c): a header — the magic "btrfs-stream\0", le32 version (1 to 3) — then
// commands, each le32 length (of what follows the 10-byte command header), le16 command, le32
// crc32c (of the whole command with this field zero), then attributes: le16 type, le16 length,
// value. From version 2 on, the DATA attribute has no length field and takes the rest of its
// command. The last command is END; a stream that stops before it was cut short. Paths are bytes,
// relative to the subvolume's root ('' is the root).
//
// File names are bytes, snapkeep's paths strings. A path that is valid UTF-8 is decoded as such;
// in one that is not, every byte that does not decode becomes a lone surrogate U+DC80..U+DCFF
// (Python's "surrogateescape"). No valid UTF-8 decodes to a lone surrogate, so two names never
// become one string, and `nameBytes` gives the exact bytes back; `pathBelow` is how such a path
// reaches the filesystem (Node would encode the string's surrogates as U+FFFD). A lossy decode
// would make both the snapshot's and the copy's file be looked up under a name neither has, and
// "missing in both" compares as equal: the file would not be checked at all.
import { isUtf8 } from 'node:buffer';
import { join } from 'node:path';

/** What one send stream changes, by path relative to the subvolume's root ('' is the root). */
export interface StreamChanges {
  /** Every path an operation touched, under its final name; removed ones included. */
  readonly paths: ReadonlySet<string>;
  /** The byte ranges written per path ([offset, length]), for content comparison. */
  readonly writes: ReadonlyMap<string, readonly (readonly [number, number])[]>;
}

/** One command of a stream, as far as verification cares. */
export interface SendOperation {
  /** btrfs-progs' name of the command (`receive --dump` prints the same). */
  readonly command: string;
  /** The path it acts on; for subvol and snapshot the subvolume's name. */
  readonly path: string;
  /** rename: the new path; link: the existing path the new one links to. */
  readonly destination?: string;
  /** The file range it writes: [offset, length]. */
  readonly range?: readonly [number, number];
}

// enum btrfs_send_cmd (send.h), by the protocol version that introduced it.
const commandNames: Readonly<Record<number, string>> = {
  1: 'subvol',
  2: 'snapshot',
  3: 'mkfile',
  4: 'mkdir',
  5: 'mknod',
  6: 'mkfifo',
  7: 'mksock',
  8: 'symlink',
  9: 'rename',
  10: 'link',
  11: 'unlink',
  12: 'rmdir',
  13: 'set_xattr',
  14: 'remove_xattr',
  15: 'write',
  16: 'clone',
  17: 'truncate',
  18: 'chmod',
  19: 'chown',
  20: 'utimes',
  21: 'end',
  22: 'update_extent',
  // version 2
  23: 'fallocate',
  24: 'fileattr',
  25: 'encoded_write',
  // version 3
  26: 'enable_verity',
};

// The btrfs_send_attr values read here (send.h).
const attribute = {
  size: 4,
  path: 15,
  pathTo: 16,
  pathLink: 17,
  fileOffset: 18,
  data: 19,
  cloneLength: 24,
  unencodedFileLength: 27,
} as const;

/** The highest command and attribute each protocol version defines (BTRFS_SEND_[CA]_MAX_Vn). */
const limits: Readonly<Record<number, { readonly command: number; readonly attribute: number }>> = {
  1: { command: 22, attribute: 24 },
  2: { command: 25, attribute: 31 },
  3: { command: 26, attribute: 35 },
};

const magic = Buffer.from('btrfs-stream\0', 'latin1');
const streamHeaderBytes = magic.length + 4;
const commandHeaderBytes = 10;
/**
 * No command btrfs send writes comes near this (version 1: at most 64 KiB; version 2: a few
 * hundred KiB of compressed data); a larger length is a corrupt header, not a reason to buffer.
 */
const commandLimitBytes = 16 * 1024 * 1024;

const crcTable = (() => {
  const table = new Uint32Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1; // Castagnoli
    table[byte] = crc >>> 0;
  }
  return table;
})();

/** crc32c as send.c computes it: seed 0, no final inversion (the kernel's raw crc32c()). */
export function crc32c(bytes: Uint8Array, crc = 0): number {
  for (const byte of bytes) crc = crcTable[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return crc >>> 0;
}

const zeroCrc = Buffer.alloc(4);

const hex = (value: number): string => `0x${value.toString(16).padStart(8, '0')}`;

const sequenceLength = (lead: number): number =>
  lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 0;

/** A file name's bytes as a string: UTF-8, with undecodable bytes as U+DC80..U+DCFF. */
export function decodeName(bytes: Buffer): string {
  if (isUtf8(bytes)) return bytes.toString('utf8');
  let text = '';
  let run = 0; // start of the valid UTF-8 not yet appended
  for (let at = 0; at < bytes.length;) {
    const length = sequenceLength(bytes[at]!);
    if (length > 0 && at + length <= bytes.length && isUtf8(bytes.subarray(at, at + length))) {
      at += length;
      continue;
    }
    text += bytes.toString('utf8', run, at) + String.fromCharCode(0xdc00 + bytes[at]!);
    at += 1;
    run = at;
  }
  return text + bytes.toString('utf8', run);
}

/** A lone surrogate of the escaped range: an undecodable byte (a surrogate pair is a character). */
const escapedByte = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/;

/** The bytes of a name decodeName made. */
export function nameBytes(name: string): Buffer {
  if (!escapedByte.test(name)) return Buffer.from(name, 'utf8');
  const parts: Buffer[] = [];
  for (const character of name) {
    const code = character.codePointAt(0)!;
    parts.push(code >= 0xdc80 && code <= 0xdcff ? Buffer.of(code - 0xdc00) : Buffer.from(character, 'utf8'));
  }
  return Buffer.concat(parts);
}

/** `relative` (a stream path) below `root`, as the filesystem must be given it. */
export function pathBelow(root: string, relative: string): string | Buffer {
  if (!escapedByte.test(relative)) return join(root, relative);
  return Buffer.concat([Buffer.from(root.endsWith('/') ? root : `${root}/`, 'utf8'), nameBytes(relative)]);
}

/** A stream path for a message: undecodable bytes shown as \xNN. */
export function printableName(name: string): string {
  return escapedByte.test(name)
    ? name.replace(
        /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/g,
        (escaped) => `\\x${(escaped.charCodeAt(0) - 0xdc00).toString(16)}`,
      )
    : name;
}

/**
 * Reads a send stream chunk by chunk (`push`, then `finish`), calling `onOperation` for each
 * command. Keeps only the command it is in the middle of. Everything is checked — the header,
 * each command's length, checksum and attributes, the END at the end and nothing after it — and
 * anything else is an error naming the byte offset: never a silently shorter list.
 */
export class SendStreamDecoder {
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes of the stream fully read (for messages). */
  private offset = 0;
  private version: number | undefined;
  private started = false;
  private ended = false;

  constructor(private readonly onOperation: (operation: SendOperation) => void) {}

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.ended) this.fail('data after the end command');
    const buffer = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length);
    this.pending.push(buffer);
    this.pendingBytes += buffer.length;
    for (;;) {
      if (this.version === undefined) {
        if (this.pendingBytes < streamHeaderBytes) return;
        this.readStreamHeader(this.take(streamHeaderBytes));
        continue;
      }
      if (this.ended) {
        if (this.pendingBytes > 0) this.fail('data after the end command');
        return;
      }
      if (this.pendingBytes < commandHeaderBytes) return;
      const length = this.peek(commandHeaderBytes).readUInt32LE(0);
      if (length > commandLimitBytes)
        this.fail(`a command claims ${length} bytes (no btrfs send writes one that large)`);
      if (this.pendingBytes < commandHeaderBytes + length) return;
      this.readCommand(this.take(commandHeaderBytes + length));
    }
  }

  /** The stream has ended: throws unless it ended where a stream ends. */
  finish(): void {
    if (this.version === undefined)
      this.fail(
        this.pendingBytes === 0
          ? 'the stream is empty'
          : `the stream ends in its header (${this.pendingBytes} bytes)`,
      );
    if (this.pendingBytes > 0)
      this.fail(`the stream ends inside a command (${this.pendingBytes} bytes of it)`);
    if (!this.ended) this.fail('the stream ends without its end command: it was cut short');
  }

  private fail(problem: string): never {
    throw new Error(`unreadable btrfs send stream at byte ${this.offset}: ${problem}`);
  }

  /** The first `count` pending bytes, contiguous, without consuming them. */
  private peek(count: number): Buffer {
    if (this.pending[0]!.length < count) {
      const merged = Buffer.concat(this.pending, this.pendingBytes);
      this.pending.length = 0;
      this.pending.push(merged);
    }
    return this.pending[0]!.subarray(0, count);
  }

  private take(count: number): Buffer {
    const taken = this.peek(count);
    const first = this.pending[0]!;
    if (first.length === count) this.pending.shift();
    else this.pending[0] = first.subarray(count);
    this.pendingBytes -= count;
    return taken;
  }

  private readStreamHeader(header: Buffer): void {
    if (!header.subarray(0, magic.length).equals(magic)) this.fail('it does not start with "btrfs-stream"');
    const version = header.readUInt32LE(magic.length);
    if (limits[version] === undefined) this.fail(`protocol version ${version} is not one of 1, 2, 3`);
    this.version = version;
    this.offset += header.length;
  }

  private readCommand(command: Buffer): void {
    const code = command.readUInt16LE(4);
    const crc = command.readUInt32LE(6);
    // The checksum covers the whole command with its crc field zero.
    const expected = crc32c(
      command.subarray(commandHeaderBytes),
      crc32c(zeroCrc, crc32c(command.subarray(0, 6))),
    );
    if (crc !== expected) this.fail(`command ${code}: checksum ${hex(crc)}, computed ${hex(expected)}`);
    const limit = limits[this.version!]!;
    const name = code <= limit.command ? commandNames[code] : undefined;
    if (name === undefined) this.fail(`command ${code} is not a command of protocol version ${this.version}`);
    const attributes = this.readAttributes(name, command.subarray(commandHeaderBytes), limit.attribute);
    this.apply(name, attributes);
    this.offset += command.length;
  }

  private readAttributes(command: string, body: Buffer, highest: number): Map<number, Buffer> {
    const attributes = new Map<number, Buffer>();
    for (let at = 0; at < body.length;) {
      if (body.length - at < 2) this.fail(`${command}: an attribute is cut short`);
      const type = body.readUInt16LE(at);
      at += 2;
      if (type === 0 || type > highest)
        this.fail(`${command}: attribute ${type} is not one of protocol version ${this.version}`);
      let length: number;
      if (this.version! >= 2 && type === attribute.data) length = body.length - at;
      else {
        if (body.length - at < 2) this.fail(`${command}: attribute ${type} is cut short`);
        length = body.readUInt16LE(at);
        at += 2;
      }
      if (body.length - at < length)
        this.fail(`${command}: attribute ${type} claims ${length} bytes, ${body.length - at} are left`);
      if (attributes.has(type)) this.fail(`${command}: attribute ${type} appears twice`);
      attributes.set(type, body.subarray(at, at + length));
      at += length;
    }
    return attributes;
  }

  private apply(command: string, attributes: ReadonlyMap<number, Buffer>): void {
    const required = (type: number): Buffer => {
      const value = attributes.get(type);
      if (value === undefined) this.fail(`${command} without its attribute ${type}`);
      return value;
    };
    const path = (type: number): string => decodeName(trimSlash(required(type)));
    const number = (type: number): number => {
      const value = required(type);
      if (value.length !== 8) this.fail(`${command}: attribute ${type} has ${value.length} bytes, not 8`);
      const read = value.readBigUInt64LE(0);
      if (read > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(`${command}: attribute ${type} is ${read}`);
      return Number(read);
    };
    if (command === 'end') {
      if (!this.started) this.fail('end before the subvol or snapshot command');
      this.ended = true;
      return;
    }
    const subvolume = command === 'subvol' || command === 'snapshot';
    if (subvolume === this.started)
      this.fail(
        this.started ? `a second ${command} command` : `${command} before the subvol or snapshot command`,
      );
    this.started = true;
    const operation: { -readonly [key in keyof SendOperation]: SendOperation[key] } = {
      command,
      path: path(attribute.path),
    };
    if (command === 'rename') operation.destination = path(attribute.pathTo);
    else if (command === 'link') operation.destination = path(attribute.pathLink);
    else if (command === 'write')
      operation.range = [number(attribute.fileOffset), required(attribute.data).length];
    else if (command === 'clone')
      operation.range = [number(attribute.fileOffset), number(attribute.cloneLength)];
    else if (command === 'update_extent' || command === 'fallocate')
      operation.range = [number(attribute.fileOffset), number(attribute.size)];
    else if (command === 'encoded_write')
      operation.range = [number(attribute.fileOffset), number(attribute.unencodedFileLength)];
    this.onOperation(operation);
  }
}

/** Paths carry no trailing slash (the root may be written as "/" by some writers). */
const trimSlash = (bytes: Buffer): Buffer =>
  bytes.length > 0 && bytes[bytes.length - 1] === 0x2f ? bytes.subarray(0, -1) : bytes;

/**
 * The paths operations touch, followed through renames to the names they end with (a full
 * stream makes every new inode under an orphan name and renames it), and the ranges written.
 */
export class TouchedPaths {
  private readonly paths = new Set<string>();
  private readonly writes = new Map<string, [number, number][]>();
  // Paths that have something below them in `paths`: a rename moves entries below its source
  // only then, so the many renames of a full stream cost one lookup each instead of a scan.
  private readonly ancestors = new Map<string, number>();

  apply(operation: SendOperation): void {
    const { command, path } = operation;
    if (command === 'subvol' || command === 'snapshot') {
      this.add('');
      return;
    }
    if (command === 'rename') {
      const destination = operation.destination!;
      this.rename(path, destination);
      this.add(path); // the old name must be gone from the copy too
      this.add(destination);
      return;
    }
    this.add(path);
    if (command === 'link') this.add(operation.destination!);
    const range = operation.range;
    if (range && range[1] > 0) {
      const written = this.writes.get(path);
      if (written) written.push([range[0], range[1]]);
      else this.writes.set(path, [[range[0], range[1]]]);
    }
  }

  changes(): StreamChanges {
    return { paths: this.paths, writes: this.writes };
  }

  private eachAncestor(path: string, visit: (ancestor: string) => void): void {
    for (let at = path.lastIndexOf('/'); at > 0; at = path.lastIndexOf('/', at - 1)) visit(path.slice(0, at));
  }

  private add(path: string): void {
    if (this.paths.has(path)) return;
    this.paths.add(path);
    this.eachAncestor(path, (ancestor) =>
      this.ancestors.set(ancestor, (this.ancestors.get(ancestor) ?? 0) + 1),
    );
  }

  private remove(path: string): void {
    if (!this.paths.delete(path)) return;
    this.eachAncestor(path, (ancestor) => {
      const count = (this.ancestors.get(ancestor) ?? 1) - 1;
      if (count === 0) this.ancestors.delete(ancestor);
      else this.ancestors.set(ancestor, count);
    });
  }

  private rename(from: string, to: string): void {
    const below = this.ancestors.has(from) ? [...this.paths].filter((key) => key.startsWith(`${from}/`)) : [];
    for (const key of [from, ...below]) {
      const moved = to + key.slice(from.length);
      if (this.paths.has(key)) {
        this.remove(key);
        this.add(moved);
      }
      const written = this.writes.get(key); // every written path is in `paths` too
      if (written) {
        this.writes.delete(key);
        this.writes.set(moved, written);
      }
    }
  }
}

/** What the send stream read from `chunks` changes; throws if the stream is not whole and sound. */
export async function readStreamChanges(chunks: AsyncIterable<Uint8Array>): Promise<StreamChanges> {
  const touched = new TouchedPaths();
  const decoder = new SendStreamDecoder((operation) => {
    touched.apply(operation);
  });
  for await (const chunk of chunks) decoder.push(chunk);
  decoder.finish();
  return touched.changes();
}
