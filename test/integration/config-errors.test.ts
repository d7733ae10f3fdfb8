// Malformed configurations through the built CLI: each must exit 2 with a message naming the
// file and line, the key path and what was expected — and leave every path it names untouched.
import { lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, type CommandResult } from '../../src/exec/command.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cli = join(repoRoot, 'dist', 'cli', 'main.cjs');

function snapkeep(args: readonly string[]): Promise<CommandResult> {
  // SNAPKEEP_CONFIG is cleared so only --config decides which file is read.
  return runCommand({
    file: process.execPath,
    args: [cli, ...args],
    env: { SNAPKEEP_CONFIG: '' },
    timeoutMs: 60_000,
  });
}

/** Every entry below `root` with its size, mtime and mode: equal before and after = untouched. */
async function treeState(root: string): Promise<string[]> {
  const entries: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const name of (await readdir(dir)).sort()) {
      const path = join(dir, name);
      const stats = await lstat(path);
      entries.push(`${path} ${stats.size} ${stats.mtimeMs} ${stats.mode}`);
      if (stats.isDirectory()) await walk(path);
    }
  };
  const stats = await lstat(root);
  entries.push(`${root} ${stats.size} ${stats.mtimeMs} ${stats.mode}`);
  await walk(root);
  return entries;
}

interface Case {
  readonly name: string;
  /** The configuration text; `d` is the temp directory that holds everything it names. */
  readonly yaml: (d: string) => string;
  /** A string on the line the error must point at (the first line containing it). */
  readonly at: string;
  /** The key path the message must name (none for problems that are not about one key). */
  readonly path?: string;
  /** Phrases the message must contain: what is wrong and what was expected. */
  readonly says: readonly string[];
  /** Something to add to the temp directory before the run (e.g. a symlink). */
  readonly setup?: (d: string) => Promise<void>;
}

// A second subvolume for the cases about directories that coincide or nest.
const data = (d: string, lines: string): string => `  data:\n    path: ${d}/data\n${lines}`;

// A valid configuration, every path inside the temp directory; cases vary one thing.
const valid = (d: string, extra = ''): string => `state_dir: ${d}/state
parallel: 2
targets:
  usb:
    path: ${d}/target
subvolumes:
  home:
    path: ${d}/home
    snapshot_dir: ${d}/home/.snapshots
    targets: [usb]
${extra}`;

const cases: readonly Case[] = [
  {
    name: 'unknown top-level key',
    yaml: (d) => valid(d, 'snapshotdir: /x\n'),
    at: 'snapshotdir:',
    path: 'snapshotdir',
    says: [
      'unknown key "snapshotdir"',
      'expected one of: state_dir, parallel, defaults, ssh, targets, subvolumes',
    ],
  },
  {
    name: 'misspelled nested key',
    yaml: (d) => valid(d).replace('snapshot_dir:', 'snapshot_dirr:'),
    at: 'snapshot_dirr:',
    path: 'subvolumes.home.snapshot_dirr',
    says: ['unknown key', 'did you mean "snapshot_dir"?', 'expected one of: path, snapshot_dir'],
  },
  {
    name: 'key one level too high',
    yaml: (d) => valid(d, '    preserve: 7d\n'),
    at: '    preserve: 7d',
    path: 'subvolumes.home.preserve',
    says: [
      'unknown key "preserve"',
      'did you mean snapshot_retention.preserve or target_retention.preserve?',
    ],
  },
  {
    name: 'relative path',
    yaml: (d) => valid(d).replace(`path: ${d}/home`, 'path: home'),
    at: '    path: home',
    path: 'subvolumes.home.path',
    says: ['is not an absolute path', 'got "home"', 'expected a path starting with /'],
  },
  {
    name: 'path with ".."',
    yaml: (d) => valid(d).replace(`path: ${d}/target`, `path: ${d}/target/../elsewhere`),
    at: '/target/../elsewhere',
    path: 'targets.usb.path',
    says: ['contains a ".." component', 'expected a path without ".."'],
  },
  {
    name: 'control character in a path',
    yaml: (d) => valid(d).replace(`state_dir: ${d}/state`, `state_dir: "${d}/sta\\u0007te"`),
    at: 'state_dir:',
    path: 'state_dir',
    says: ['contains a control character', '\\u0007', 'expected printable characters only'],
  },
  {
    name: 'wrong type: string for a number',
    yaml: (d) => valid(d).replace('parallel: 2', 'parallel: two'),
    at: 'parallel:',
    path: 'parallel',
    says: ['wrong type', 'got the string "two"', 'expected an integer from 1 to 16'],
  },
  {
    name: 'wrong type: string for a list',
    yaml: (d) => valid(d).replace('targets: [usb]', 'targets: usb'),
    at: '    targets: usb',
    path: 'subvolumes.home.targets',
    says: ['wrong type', 'got the string "usb"', 'expected a list'],
  },
  {
    name: 'wrong type: number for a name',
    yaml: (d) => valid(d, '    snapshot_name: 2024\n'),
    at: 'snapshot_name: 2024',
    path: 'subvolumes.home.snapshot_name',
    says: ['got the number 2024', 'expected a string', 'put it in quotes'],
  },
  {
    name: 'bad preserve matrix "7x"',
    yaml: (d) => valid(d, '    snapshot_retention:\n      preserve: 7x\n'),
    at: 'preserve: 7x',
    path: 'subvolumes.home.snapshot_retention.preserve',
    says: ['"7x" is not a preserve term', 'got "7x"', 'expected a count and a unit like 24h 7d 4w 6m 2y'],
  },
  {
    name: 'duplicated unit "7d 3d"',
    yaml: (d) => valid(d, 'defaults:\n  target_retention:\n    preserve: 7d 3d\n'),
    at: 'preserve: 7d 3d',
    path: 'defaults.target_retention.preserve',
    says: ['unit "d" appears more than once', 'got "7d 3d"', 'each unit at most once'],
  },
  {
    name: 'bad preserve_min',
    yaml: (d) => valid(d, 'defaults:\n  snapshot_retention:\n    preserve_min: forever\n'),
    at: 'preserve_min: forever',
    path: 'defaults.snapshot_retention.preserve_min',
    says: ['is not a preserve minimum', 'got "forever"', 'expected all, latest, no, or a count and unit'],
  },
  {
    name: 'preserve_hour_of_day 24',
    yaml: (d) => valid(d, 'defaults:\n  snapshot_retention:\n    preserve_hour_of_day: 24\n'),
    at: 'preserve_hour_of_day: 24',
    path: 'defaults.snapshot_retention.preserve_hour_of_day',
    says: ['too large', 'got 24', 'expected an integer from 0 to 23'],
  },
  {
    name: 'preserve_day_of_week "funday"',
    yaml: (d) => valid(d).replace('  usb:\n', '  usb:\n    retention:\n      preserve_day_of_week: funday\n'),
    at: 'preserve_day_of_week: funday',
    path: 'targets.usb.retention.preserve_day_of_week',
    says: [
      'not an accepted value',
      'did you mean "sunday"?',
      'got "funday"',
      'expected one of: sunday, monday',
    ],
  },
  {
    name: 'misspelled retention key',
    yaml: (d) => valid(d).replace('  usb:\n', '  usb:\n    retention:\n      preserve_minimum: 2d\n'),
    at: 'preserve_minimum:',
    path: 'targets.usb.retention.preserve_minimum',
    says: ['unknown key', 'did you mean "preserve_min"?'],
  },
  {
    name: 'parallel 0',
    yaml: (d) => valid(d).replace('parallel: 2', 'parallel: 0'),
    at: 'parallel:',
    path: 'parallel',
    says: ['too small', 'got 0', 'expected an integer from 1 to 16'],
  },
  {
    name: 'unknown target reference',
    yaml: (d) => valid(d).replace('targets: [usb]', 'targets: [usb, nas]'),
    at: 'targets: [usb, nas]',
    path: 'subvolumes.home.targets[1]',
    says: ['unknown target "nas"', 'expected one of the targets defined under "targets:": usb'],
  },
  {
    name: 'duplicate YAML key',
    yaml: (d) => valid(d).replace('parallel: 2\n', 'parallel: 2\nparallel: 3\n'),
    at: 'parallel: 3',
    path: 'parallel',
    says: ['duplicate key', 'first defined at line 2', 'expected each key once per mapping'],
  },
  {
    name: 'YAML syntax error: bad indentation',
    yaml: (d) => valid(d).replace('    targets: [usb]', '   targets: [usb]'),
    at: '   targets: [usb]',
    says: ['YAML syntax error', 'expected consistent indentation'],
  },
  {
    name: 'YAML syntax error: tab indentation',
    yaml: (d) => valid(d).replace('    targets: [usb]', '\ttargets: [usb]'),
    at: '\ttargets: [usb]',
    says: ['YAML syntax error', 'expected indentation with spaces, not tabs'],
  },
  {
    name: 'YAML syntax error: unclosed quote',
    yaml: (d) => valid(d).replace(`path: ${d}/home\n`, `path: "${d}/home\n`),
    at: `path: "`,
    says: ['YAML syntax error', 'unclosed quote', 'expected a closing "'],
  },
  {
    name: 'top-level list instead of a mapping',
    yaml: (d) => `- state_dir: ${d}/state\n- parallel: 2\n`,
    at: '- state_dir',
    says: ['the top level must be a mapping', 'got a list', 'expected a mapping with keys state_dir'],
  },
  {
    name: 'empty file',
    yaml: () => '# nothing here yet\n',
    at: '# nothing',
    says: ['the file is empty or holds only comments', 'expected a mapping with at least subvolumes:'],
  },
  {
    name: 'bad timestamp_format',
    yaml: (d) => valid(d, '    timestamp_format: longiso\n'),
    at: 'timestamp_format: longiso',
    path: 'subvolumes.home.timestamp_format',
    says: ['not an accepted value', 'did you mean "long-iso"?', 'expected one of: short, long, long-iso'],
  },
  {
    name: 'bad snapshot_create',
    yaml: (d) => valid(d, 'defaults:\n  snapshot_create: sometimes\n'),
    at: 'snapshot_create: sometimes',
    path: 'defaults.snapshot_create',
    says: ['not an accepted value', 'got "sometimes"', 'expected one of: always, onchange'],
  },
  {
    name: 'snapshot_name with "/"',
    yaml: (d) => valid(d, '    snapshot_name: home/daily\n'),
    at: 'snapshot_name: home/daily',
    path: 'subvolumes.home.snapshot_name',
    says: ['is not a valid snapshot name', 'got "home/daily"', 'expected letters, digits and _ @ + - .'],
  },
  {
    name: 'duplicate snapshot_name in the same directory',
    yaml: (d) =>
      valid(
        d,
        `  data:\n    path: ${d}/data\n    snapshot_dir: ${d}/home/.snapshots\n    snapshot_name: home\n`,
      ),
    at: 'snapshot_name: home',
    path: 'subvolumes.data.snapshot_name',
    says: [
      '"home" and "data" would write snapshots with the same name into the same directory',
      'expected a different snapshot_name or snapshot_dir',
    ],
  },
  {
    name: 'target name with spaces',
    yaml: (d) => valid(d).replace('  usb:\n', '  usb disk:\n').replace('[usb]', '["usb disk"]'),
    at: '  usb disk:',
    path: 'targets."usb disk"',
    says: ['is not a valid name', 'got "usb disk"', 'expected letters, digits, "_", "." and "-"'],
  },
  {
    name: 'missing required key',
    yaml: (d) => valid(d).replace(`    path: ${d}/home\n`, ''),
    at: '  home:',
    path: 'subvolumes.home.path',
    says: ['required key "path" is missing', 'expected a value: The btrfs subvolume to snapshot'],
  },
  {
    name: 'empty section value',
    yaml: (d) => valid(d).replace(/targets:\n {2}usb:\n {4}path: .*\n/, 'targets:\n'),
    at: 'targets:',
    path: 'targets',
    says: ['wrong type', 'got an empty value', 'expected a mapping'],
  },
  {
    name: 'subvolume at the top level',
    yaml: (d) => valid(d, `data:\n  path: ${d}/data\n  snapshot_dir: ${d}/snaps\n`),
    at: 'data:',
    path: 'data',
    says: ['unknown key "data"', 'did you mean to put "data" under subvolumes:?'],
  },
  {
    name: 'target is a snapshot_dir',
    yaml: (d) =>
      valid(d, data(d, `    snapshot_dir: ${d}/snaps\n`)).replace(`path: ${d}/target`, `path: ${d}/snaps`),
    at: '    path: ',
    path: 'targets.usb.path',
    says: ['is the snapshot_dir of subvolume "data"', 'expected a directory apart from every snapshot_dir'],
  },
  {
    name: 'target inside a snapshot_dir',
    yaml: (d) =>
      valid(d, data(d, `    snapshot_dir: ${d}/snaps\n`)).replace(
        `path: ${d}/target`,
        `path: ${d}/snaps/copies`,
      ),
    at: '/snaps/copies',
    path: 'targets.usb.path',
    says: [
      'is inside the snapshot_dir of subvolume "data"',
      'expected a directory apart from every snapshot_dir',
    ],
  },
  {
    name: 'snapshot_dir inside a target',
    yaml: (d) => valid(d, data(d, `    snapshot_dir: ${d}/target/snaps\n`)),
    at: '    path: ',
    path: 'targets.usb.path',
    says: [
      'holds the snapshot_dir of subvolume "data"',
      'expected a directory apart from every snapshot_dir',
    ],
  },
  {
    name: 'two subvolumes with one snapshot_name on one target',
    yaml: (d) =>
      valid(
        d,
        data(d, `    snapshot_dir: ${d}/data/.snapshots\n    snapshot_name: home\n    targets: [usb]\n`),
      ),
    at: 'snapshot_name: home',
    path: 'subvolumes.data.snapshot_name',
    says: [
      '"home" and "data" would send copies with the same name to target "usb"',
      'got "home"',
      'expected a different snapshot_name for one of them',
    ],
  },
  {
    name: 'target inside its source subvolume',
    yaml: (d) => valid(d).replace(`path: ${d}/target`, `path: ${d}/home/backup`),
    at: '/home/backup',
    path: 'targets.usb.path',
    says: [
      'is inside subvolume "home"',
      'which is sent to it',
      'expected a directory outside the subvolumes sent to it',
    ],
  },
  {
    name: 'target inside its source subvolume through a symlink',
    setup: (d) => symlink(join(d, 'home'), join(d, 'link')),
    yaml: (d) => valid(d).replace(`path: ${d}/target`, `path: ${d}/link/backup`),
    at: '/link/backup',
    path: 'targets.usb.path',
    says: ['is inside subvolume "home"', '/home/backup on disk', 'expected a directory outside'],
  },
  {
    name: 'one snapshot_dir spelled two ways',
    yaml: (d) => valid(d, data(d, `    snapshot_dir: ${d}/home/./.snapshots/\n    snapshot_name: home\n`)),
    at: 'snapshot_name: home',
    path: 'subvolumes.data.snapshot_name',
    says: [
      '"home" and "data" would write snapshots with the same name into the same directory',
      'expected a different snapshot_name or snapshot_dir',
    ],
  },
  {
    name: 'two targets in one directory',
    yaml: (d) =>
      valid(d)
        .replace('targets:\n  usb:\n', `targets:\n  usb:\n    path: ${d}/target\n  spare:\n`)
        .replace(`    path: ${d}/target\nsubvolumes`, `    path: ${d}//target/\nsubvolumes`)
        .replace('targets: [usb]', 'targets: [usb, spare]'),
    at: '//target/',
    path: 'targets.spare.path',
    says: ['is the directory of target "usb" too', 'expected a directory of its own for each target'],
  },
  {
    name: 'empty preserve matrix',
    yaml: (d) => valid(d, '    snapshot_retention:\n      preserve: ""\n'),
    at: 'preserve: ""',
    path: 'subvolumes.home.snapshot_retention.preserve',
    says: ['is empty', 'got ""', 'write "no" to keep none'],
  },
  {
    name: 'directory source path with ".."',
    yaml: (d) => valid(d, `sources:\n  files:\n    type: directory\n    paths: [${d}/home/../etc]\n`),
    at: '/home/../etc',
    path: 'sources.files.paths[0]',
    says: ['contains a ".." component', 'expected a path without ".."'],
  },
  {
    name: 'directory source path with a newline',
    yaml: (d) => valid(d, `sources:\n  files:\n    type: directory\n    paths: ["${d}/home\\nfake"]\n`),
    at: 'fake"]',
    path: 'sources.files.paths[0]',
    says: ['contains a control character', 'expected printable characters only'],
  },
  {
    name: 'directory source path with a NUL',
    yaml: (d) => valid(d, `sources:\n  files:\n    type: directory\n    paths: ["${d}/home\\0cut"]\n`),
    at: 'cut"]',
    path: 'sources.files.paths[0]',
    says: ['contains a control character', 'expected printable characters only'],
  },
  {
    name: 'local repository path with ".."',
    yaml: (d) => valid(d, `repositories:\n  local:\n    url: ${d}/repo/../elsewhere\n    password: env:X\n`),
    at: '/repo/../elsewhere',
    path: 'repositories.local.url',
    says: ['contains a ".." component', 'expected a path without ".."'],
  },
  {
    name: 'misspelled key of a directory source',
    yaml: (d) =>
      valid(d, `sources:\n  files:\n    type: directory\n    paths: [${d}/home]\n    excludes: ['*.tmp']\n`),
    at: 'excludes:',
    path: 'sources.files.excludes',
    says: ['unknown key "excludes"', 'did you mean "exclude"?', 'expected one of: type, paths, exclude'],
  },
  {
    name: 'two YAML documents',
    yaml: (d) => `${valid(d)}---\nparallel: 3\n`,
    at: '---',
    says: ['YAML syntax error', 'expected a single YAML document'],
  },
];

let root: string;

beforeAll(async () => {
  // dist/ is built once by test/global-setup.ts; rebuilding here raced with other files' CLI runs.
  root = await mkdtemp(join(tmpdir(), 'snapkeep-config-errors-'));
});

afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

/** A temp directory with real content at every path the valid configuration names. */
async function makeWorld(label: string): Promise<string> {
  const dir = await mkdtemp(join(root, `${label.replace(/\W+/g, '-')}-`));
  for (const sub of ['state', 'target', 'home/.snapshots', 'data'])
    await mkdir(join(dir, sub), { recursive: true });
  await writeFile(join(dir, 'home', 'file.txt'), 'precious\n');
  await writeFile(join(dir, 'home', '.snapshots', 'home.20250101T0000'), 'not really a snapshot\n');
  await writeFile(join(dir, 'target', 'home.20250101T0000'), 'not really a copy\n');
  await writeFile(join(dir, 'state', 'journal.ndjson'), '{"type":"run-start"}\n');
  return dir;
}

function lineOf(text: string, needle: string): number {
  const index = text.split('\n').findIndex((line) => line.includes(needle));
  if (index < 0) throw new Error(`test bug: "${needle}" is not in the config`);
  return index + 1;
}

async function expectRefused(command: readonly string[], testCase: Case): Promise<void> {
  const dir = await makeWorld(testCase.name);
  const file = join(dir, 'snapkeep.yaml');
  const text = testCase.yaml(dir);
  await writeFile(file, text);
  await testCase.setup?.(dir);
  const before = await treeState(dir);

  const result = await snapkeep([...command, '--config', file]);

  expect(result.exitCode, result.stderr).toBe(2);
  expect(result.stdout).toBe('');
  const line = lineOf(text, testCase.at);
  const stderr = result.stderr;
  // The error line itself: file:line:col: key.path: what is wrong (got …; expected …)
  const located = stderr.split('\n').find((entry) => entry.startsWith(`${file}:${line}:`));
  expect(located, `no "${file}:${line}:" line in:\n${stderr}`).toBeDefined();
  if (testCase.path !== undefined) expect(located).toContain(`: ${testCase.path}: `);
  for (const phrase of testCase.says) expect(located).toContain(phrase);
  expect(await treeState(dir)).toEqual(before);
}

describe('config validate: malformed configurations', () => {
  it('has at least 20 distinct cases', () => {
    expect(new Set(cases.map((testCase) => testCase.name)).size).toBeGreaterThanOrEqual(20);
  });

  it.each(cases)('$name → exit 2, file:line, key, expectation; nothing touched', async (testCase) => {
    await expectRefused(['config', 'validate'], testCase);
  });

  it('reports every problem of a file at once, in file order', async () => {
    const dir = await makeWorld('several');
    const file = join(dir, 'snapkeep.yaml');
    const text = valid(dir)
      .replace('parallel: 2', 'parallel: 0')
      .replace('snapshot_dir:', 'snapshot_dirr:')
      .replace('targets: [usb]', 'targets: [nas]');
    await writeFile(file, text);
    const result = await snapkeep(['config', 'validate', '--config', file]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`invalid configuration ${file}: 3 problems (nothing was changed)`);
    const located = result.stderr.split('\n').filter((line) => line.startsWith(`${file}:`));
    expect(located.map((line) => Number(line.slice(file.length + 1).split(':')[0]))).toEqual([
      lineOf(text, 'parallel'),
      lineOf(text, 'snapshot_dirr'),
      lineOf(text, '[nas]'),
    ]);
  });

  it('--json: one config event with structured errors on stdout, exit 2', async () => {
    const dir = await makeWorld('json');
    const file = join(dir, 'snapkeep.yaml');
    await writeFile(file, valid(dir).replace('parallel: 2', 'parallel: 17'));
    const before = await treeState(dir);
    const result = await snapkeep(['config', 'validate', '--json', '--config', file]);
    expect(result.exitCode).toBe(2);
    const lines = result.stdout.trim().split('\n');
    // The --json contract: the result, then one summary.
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[1]!)).toMatchObject({ type: 'summary', command: 'config validate', exitCode: 2 });
    expect(JSON.parse(lines[0]!)).toEqual({
      type: 'config',
      valid: false,
      path: file,
      errors: [
        {
          file,
          line: 2,
          column: 11,
          path: 'parallel',
          message: 'too large (got 17; expected an integer from 1 to 16)',
        },
      ],
    });
    expect(result.stderr).toContain(`${file}:2:11: parallel: too large`);
    expect(await treeState(dir)).toEqual(before);
  });

  it('a missing file: exit 2, names the path and how to create one', async () => {
    const file = join(root, 'does-not-exist', 'snapkeep.yaml');
    const result = await snapkeep(['config', 'validate', '--config', file]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(`${file}: configuration file not found`);
    expect(result.stderr).toContain('snapkeep config init');
  });

  it('a valid file: OK with counts (text and --json)', async () => {
    const dir = await makeWorld('valid');
    const file = join(dir, 'snapkeep.yaml');
    await writeFile(file, valid(dir));
    const text = await snapkeep(['config', 'validate', '--config', file]);
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toBe(
      `OK: ${file}: 1 subvolume, 1 target, 0 backup sets, 0 repositories, 0 sources\n`,
    );
    const json = await snapkeep(['config', 'validate', '--json', '--config', file]);
    const [validated, summary, ...rest] = json.stdout.trim().split('\n');
    expect(rest).toEqual([]);
    expect(JSON.parse(summary!)).toMatchObject({ type: 'summary', command: 'config validate', exitCode: 0 });
    expect(JSON.parse(validated!)).toEqual({
      type: 'config',
      valid: true,
      path: file,
      subvolumes: 1,
      targets: 1,
      backup_sets: 0,
      repositories: 0,
      sources: 0,
      warnings: [],
    });
  });
});

describe('config init', () => {
  it('writes the sample (creating directories), which validates; refuses to overwrite (exit 2)', async () => {
    const dir = await makeWorld('init');
    const file = join(dir, 'etc', 'snapkeep', 'snapkeep.yaml');
    const first = await snapkeep(['config', 'init', '--output', file]);
    expect(first.exitCode, first.stderr).toBe(0);
    const written = await readFile(file, 'utf8');
    const stdout = await snapkeep(['config', 'init']);
    expect(stdout.stdout).toBe(written);
    const validate = await snapkeep(['config', 'validate', '--config', file]);
    expect(validate.exitCode, validate.stderr).toBe(0);

    const before = await treeState(dir);
    const again = await snapkeep(['config', 'init', '--output', file]);
    expect(again.exitCode).toBe(2);
    expect(again.stderr).toContain(`${file} already exists; refusing to overwrite it`);
    expect(await treeState(dir)).toEqual(before);
  });

  it('a file where a parent directory should be is named as such, not as "already exists" (exit 2)', async () => {
    const dir = await makeWorld('init-file-in-the-way');
    // The output's own directory is a file: mkdir -p answers EEXIST, which is not the output.
    await mkdir(join(dir, 'etc'));
    await writeFile(join(dir, 'etc', 'snapkeep'), 'not a directory\n');
    const before = await treeState(dir);
    const result = await snapkeep([
      'config',
      'init',
      '--output',
      join(dir, 'etc', 'snapkeep', 'snapkeep.yaml'),
    ]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).not.toContain('already exists; refusing to overwrite');
    expect(result.stderr).toContain(`${join(dir, 'etc', 'snapkeep')}: a file of that name is there`);
    expect(await treeState(dir)).toEqual(before);
  });
});

// `run` loads the configuration before it takes the lock, writes the journal or looks at btrfs:
// the same malformed files must stop it with exit 2 and leave every named path untouched.
describe('run: malformed configurations', () => {
  it.each(cases)('$name → exit 2 before anything is touched', async (testCase) => {
    await expectRefused(['run'], testCase);
  });
});
