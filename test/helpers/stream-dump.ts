// `btrfs receive --dump`, read the way snapkeep read it before it parsed the send stream itself
// (src/btrfs/send-stream.ts): the oracle that parser is checked against, on streams whose dump is
// unambiguous (the dump prints xattr names and values raw, so a value with a newline splits a
// record). Paths in the dump are escaped: bytes that are not printable ASCII as octal.
import type { StreamChanges } from '../../src/btrfs/send-stream.js';

const dumpEscapes: Record<string, string> = {
  a: '\u0007',
  b: '\b',
  e: '\u001b',
  f: '\f',
  n: '\n',
  r: '\r',
  t: '\t',
  v: '\v',
  ' ': ' ',
  '\\': '\\',
};

/** A path as `btrfs receive --dump` prints it (backslash escapes, octal for other bytes): its bytes. */
export function unescapeDumpBytes(text: string): Buffer {
  const bytes: number[] = [];
  for (let index = 0; index < text.length; index++) {
    const char = text[index]!;
    if (char !== '\\') {
      bytes.push(...Buffer.from(char, 'utf8'));
      continue;
    }
    const octal = /^[0-7]{3}/.exec(text.slice(index + 1));
    if (octal) {
      bytes.push(parseInt(octal[0], 8));
      index += 3;
    } else {
      const escaped = dumpEscapes[text[index + 1] ?? ''];
      if (escaped === undefined)
        throw new Error(`unexpected escape in a stream dump path: ${JSON.stringify(text)}`);
      bytes.push(...Buffer.from(escaped, 'utf8'));
      index += 1;
    }
  }
  return Buffer.from(bytes);
}

/** The dump's path decoded as the old parser did: lossy UTF-8 (U+FFFD for what does not decode). */
const unescapeDumpPath = (text: string): string => unescapeDumpBytes(text).toString('utf8');

/** A link's existing path, relative to the subvolume, whether or not it carries the prefix. */
function linkTarget(printed: string, linkPath: string): string {
  const path = unescapeDumpPath(printed);
  const prefix = /^\.\/[^/]+\//.exec(unescapeDumpPath(linkPath))?.[0];
  return (prefix && path.startsWith(prefix) ? path.slice(prefix.length) : path).replace(/\/$/, '');
}

/** Splits on unescaped whitespace. */
function dumpFields(line: string): string[] {
  return line.match(/(?:\\.|[^\s\\])+/g) ?? [];
}

/**
 * `btrfs send [--no-data] … | btrfs receive --dump`: the paths the stream touches, followed
 * through renames to the names they end with. Paths are printed as `./<subvolume>/<path>`.
 */
export function parseStreamDump(output: string): StreamChanges {
  const paths = new Set<string>();
  const writes = new Map<string, [number, number][]>();
  const relative = (printed: string): string => {
    const path = unescapeDumpPath(printed);
    // `s`: a file name may hold a newline.
    const match = /^\.\/[^/]+\/?(.*)$/s.exec(path);
    if (!match) throw new Error(`unexpected path in a stream dump: ${JSON.stringify(printed)}`);
    return match[1]!.replace(/\/$/, '');
  };
  // Paths that have something below them in `paths`: a rename moves entries below its source
  // only then, so the many renames of a full stream (each new inode starts under an orphan name)
  // cost one lookup each instead of a scan.
  const ancestors = new Map<string, number>();
  const eachAncestor = (path: string, visit: (ancestor: string) => void): void => {
    for (let at = path.lastIndexOf('/'); at > 0; at = path.lastIndexOf('/', at - 1)) visit(path.slice(0, at));
  };
  const add = (path: string): void => {
    if (paths.has(path)) return;
    paths.add(path);
    eachAncestor(path, (ancestor) => ancestors.set(ancestor, (ancestors.get(ancestor) ?? 0) + 1));
  };
  const remove = (path: string): void => {
    if (!paths.delete(path)) return;
    eachAncestor(path, (ancestor) => {
      const count = (ancestors.get(ancestor) ?? 1) - 1;
      if (count === 0) ancestors.delete(ancestor);
      else ancestors.set(ancestor, count);
    });
  };
  const rename = (from: string, to: string): void => {
    const below = ancestors.has(from) ? [...paths].filter((key) => key.startsWith(`${from}/`)) : [];
    for (const key of [from, ...below]) {
      const moved = to + key.slice(from.length);
      if (paths.has(key)) {
        remove(key);
        add(moved);
      }
      const written = writes.get(key); // every written path is in `paths` too
      if (written) {
        writes.delete(key);
        writes.set(moved, written);
      }
    }
  };
  for (const line of output.split('\n')) {
    if (line.trim() === '') continue;
    const [command, printedPath, ...rest] = dumpFields(line);
    if (command === undefined || printedPath === undefined)
      throw new Error(`unexpected line in a stream dump: ${JSON.stringify(line)}`);
    const options = new Map(
      rest.map((field) => {
        const at = field.indexOf('=');
        return [field.slice(0, at), field.slice(at + 1)] as const;
      }),
    );
    if (command === 'subvol' || command === 'snapshot') {
      add('');
      continue;
    }
    const path = relative(printedPath);
    if (command === 'rename') {
      const destination = relative(options.get('dest') ?? '');
      rename(path, destination);
      add(path); // the old name must be gone from the copy too
      add(destination);
      continue;
    }
    add(path);
    // `link NEW dest=EXISTING`: unlike rename's, link's dest is printed as the stream carries it,
    // relative to the subvolume without the `./<subvolume>/` prefix (btrfs-progs 6.2).
    if (command === 'link') add(linkTarget(options.get('dest') ?? '', printedPath));
    if (
      command === 'write' ||
      command === 'update_extent' ||
      command === 'encoded_write' ||
      command === 'clone'
    ) {
      const offset = Number(options.get('offset'));
      const length = Number(options.get('len') ?? options.get('unencoded_len') ?? 0);
      if (Number.isFinite(offset) && Number.isFinite(length) && length > 0)
        writes.set(path, [...(writes.get(path) ?? []), [offset, length]]);
    }
  }
  return { paths, writes };
}

/** One dumped operation, with the fields src/btrfs/send-stream.ts decodes (paths as bytes). */
export interface DumpedOperation {
  readonly command: string;
  readonly path: Buffer;
  readonly destination?: Buffer;
  readonly range?: readonly [number, number];
}

/** Without the `./<subvolume>/` prefix every printed path but a link's dest carries. */
function relativeBytes(printed: string): Buffer {
  const bytes = unescapeDumpBytes(printed);
  const text = bytes.toString('latin1'); // one character a byte: slicing keeps the bytes
  const match = /^\.\/[^/]+\/?(.*)$/s.exec(text);
  if (!match) throw new Error(`unexpected path in a stream dump: ${JSON.stringify(printed)}`);
  return Buffer.from(match[1]!.replace(/\/$/, ''), 'latin1');
}

/** Every operation of a dump in order (the dump prints no end command). */
export function dumpOperations(output: string): DumpedOperation[] {
  const operations: DumpedOperation[] = [];
  for (const line of output.split('\n')) {
    if (line.trim() === '') continue;
    const [command, printedPath, ...rest] = dumpFields(line);
    if (command === undefined || printedPath === undefined)
      throw new Error(`unexpected line in a stream dump: ${JSON.stringify(line)}`);
    const options = new Map(
      rest.map((field) => {
        const at = field.indexOf('=');
        // encoded_write separates its fields with ", " (btrfs-progs 6.2)
        return [field.slice(0, at), field.slice(at + 1).replace(/,$/, '')] as const;
      }),
    );
    const number = (key: string): number => {
      const value = options.get(key);
      if (value === undefined || !/^\d+$/.test(value))
        throw new Error(`no ${key}= in a stream dump line: ${JSON.stringify(line)}`);
      return Number(value);
    };
    if (command === 'subvol' || command === 'snapshot') {
      operations.push({
        command,
        path: Buffer.from(unescapeDumpBytes(printedPath).toString('latin1').replace(/^\.\//, ''), 'latin1'),
      });
      continue;
    }
    const path = relativeBytes(printedPath);
    if (command === 'rename')
      operations.push({ command, path, destination: relativeBytes(options.get('dest') ?? '') });
    else if (command === 'link') {
      const dest = unescapeDumpBytes(options.get('dest') ?? '');
      operations.push({
        command,
        path,
        destination: Buffer.from(dest.toString('latin1').replace(/\/$/, ''), 'latin1'),
      });
    } else if (command === 'write' || command === 'update_extent' || command === 'clone')
      operations.push({ command, path, range: [number('offset'), number('len')] });
    else if (command === 'encoded_write')
      operations.push({ command, path, range: [number('offset'), number('unencoded_file_len')] });
    else operations.push({ command, path });
  }
  return operations;
}
