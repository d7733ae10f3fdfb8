// The diff fold on a stream recorded from real btrfs (btrfs-progs 6.2, kernel 6.x): the changes
// made between the two snapshots were: a file added in a renamed directory, a file deleted, a file
// appended to, a directory renamed, a directory with a file deleted, a chmod, a file with two
// names renamed (link + unlink), a hard link added, an empty directory and a symlink added.
import { describe, expect, it } from 'vitest';
import { describeChange, diffOperations, type DiffOperation } from '../../../src/btrfs/snapshot-diff.js';

const recorded: DiffOperation[] = [
  { command: 'snapshot', path: 's2' },
  { command: 'rename', path: 'dir', destination: 'dir2' },
  { command: 'rename', path: 'dir2/sub', destination: 'o258-7-0' },
  { command: 'unlink', path: 'o258-7-0/f1' },
  { command: 'rmdir', path: 'o258-7-0' },
  { command: 'unlink', path: 'old.txt' },
  { command: 'update_extent', path: 'mod.bin' },
  { command: 'utimes', path: 'mod.bin' },
  { command: 'chmod', path: 'keep/x' },
  { command: 'utimes', path: 'keep/x' },
  { command: 'link', path: 'new\nline', destination: 'sp ace' },
  { command: 'unlink', path: 'sp ace' },
  { command: 'utimes', path: 'new\nline' },
  { command: 'link', path: 'hl2', destination: 'hl' },
  { command: 'utimes', path: 'hl' },
  { command: 'mkdir', path: 'o267-8-0' },
  { command: 'rename', path: 'o267-8-0', destination: 'emptydir' },
  { command: 'chown', path: 'emptydir' },
  { command: 'chmod', path: 'emptydir' },
  { command: 'symlink', path: 'o268-8-0', destination: 'target' },
  { command: 'rename', path: 'o268-8-0', destination: 'lnk' },
  { command: 'mkfile', path: 'o269-8-0' },
  { command: 'rename', path: 'o269-8-0', destination: 'dir2/z' },
  { command: 'update_extent', path: 'dir2/z' },
  { command: 'chmod', path: 'dir2/z' },
  { command: 'utimes', path: 'dir2' },
  { command: 'utimes', path: '' },
];

describe('diffOperations', () => {
  it('reports each change once, under the names a person knows', () => {
    const diff = diffOperations(recorded);
    expect(diff.changes.map(describeChange)).toEqual([
      'D  dir/sub/',
      'D  dir/sub/f1',
      'R  dir → dir2',
      'A  dir2/z',
      'A  emptydir/',
      'A  hl2  (another name of hl)',
      'a  keep/x  (mode, owner or xattrs)',
      'A  lnk',
      'M  mod.bin',
      'R  "sp ace" → "new\\nline"',
      'D  old.txt',
    ]);
    expect(diff.counts).toEqual({ added: 4, deleted: 3, modified: 1, renamed: 2, attributes: 1 });
  });

  it('a file changed inside a renamed directory is modified, not renamed again', () => {
    const diff = diffOperations([
      { command: 'rename', path: 'a', destination: 'b' },
      { command: 'update_extent', path: 'b/deep/file' },
      { command: 'rename', path: 'b/other', destination: 'moved' },
    ]);
    expect(diff.changes.map(describeChange)).toEqual(['R  a → b', 'M  b/deep/file', 'R  a/other → moved']);
  });

  it('a file replaced by a rename over it is deleted, the renamed one takes its name', () => {
    const diff = diffOperations([
      { command: 'update_extent', path: 'config' },
      { command: 'rename', path: 'config.new', destination: 'config' },
    ]);
    expect(diff.changes.map(describeChange)).toEqual(['D  config', 'R  config.new → config']);
  });
});
