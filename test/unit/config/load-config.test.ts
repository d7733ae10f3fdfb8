import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  closestMatch,
  ConfigError,
  defaultConfigPath,
  formatConfigIssue,
  formatKeyPath,
  loadConfig,
  parseConfigText,
  renderValue,
  resolveConfigPath,
} from '../../../src/config/load-config.js';
import { ExitCode, SnapkeepError } from '../../../src/errors.js';

const file = '/etc/snapkeep/test.yaml';

/** The ConfigError parseConfigText throws for this text. */
function errorFor(text: string): ConfigError {
  try {
    parseConfigText(text, file);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const minimal = `targets:
  usb:
    path: /mnt/usb
subvolumes:
  home:
    path: /mnt/root/@home
    targets: [usb]
`;

describe('parseConfigText', () => {
  it('accepts a valid configuration and resolves it', () => {
    const loaded = parseConfigText(minimal, file);
    expect(loaded.path).toBe(file);
    expect(loaded.config.parallel).toBe(4);
    expect(loaded.input).toEqual({
      targets: { usb: { path: '/mnt/usb' } },
      subvolumes: { home: { path: '/mnt/root/@home', targets: ['usb'] } },
    });
    expect(loaded.resolved.subvolumes).toHaveLength(1);
    expect(loaded.resolved.subvolumes[0]!.snapshotDir).toBe('/mnt/root/@home/.snapshots');
  });

  it('ConfigError is a SnapkeepError with exit code 2 and structured issues', () => {
    const error = errorFor('parallel: 0\n');
    expect(error).toBeInstanceOf(SnapkeepError);
    expect(error.exitCode).toBe(ExitCode.usage);
    expect(error.file).toBe(file);
    expect(error.issues).toEqual([
      {
        file,
        line: 1,
        column: 11,
        path: 'parallel',
        message: 'too small (got 0; expected an integer from 1 to 16)',
      },
    ]);
    expect(error.message).toBe(
      `invalid configuration ${file}: 1 problem (nothing was changed)\n${file}:1:11: parallel: too small (got 0; expected an integer from 1 to 16)`,
    );
  });

  it('lists every problem, sorted by position', () => {
    const error = errorFor(`subvolumes:
  home:
    path: relative
    snapshot_dirr: /x
    targets: [nas]
parallel: 99
bogus: 1
`);
    expect(error.issues.map((issue) => [issue.line, issue.column, issue.path])).toEqual([
      [3, 11, 'subvolumes.home.path'],
      [4, 5, 'subvolumes.home.snapshot_dirr'],
      [5, 15, 'subvolumes.home.targets[0]'],
      [6, 11, 'parallel'],
      [7, 1, 'bogus'],
    ]);
    expect(error.message.split('\n')[0]).toBe(
      `invalid configuration ${file}: 5 problems (nothing was changed)`,
    );
  });

  it('unknown keys point at the key and suggest the closest known key', () => {
    const [issue] = errorFor('subvolumes:\n  home:\n    path: /x\n    snapshotdir: /y\n').issues;
    expect(issue).toMatchObject({ line: 4, column: 5, path: 'subvolumes.home.snapshotdir' });
    expect(issue!.message).toContain('unknown key "snapshotdir"; did you mean "snapshot_dir"?');
    expect(issue!.message).toContain('(expected one of: path, snapshot_dir, snapshot_name, targets');
  });

  it('unknown keys that live one level down say where they belong', () => {
    const [issue] = errorFor('timestamp_format: long\n').issues;
    expect(issue!.message).toContain('did you mean defaults.timestamp_format?');
  });

  it('missing required keys point at the mapping that lacks them', () => {
    const [issue] = errorFor('subvolumes:\n  home:\n    targets: []\n').issues;
    expect(issue).toMatchObject({ line: 2, column: 3, path: 'subvolumes.home.path' });
    expect(issue!.message).toBe(
      'required key "path" is missing (expected a value: The btrfs subvolume to snapshot (/local/path, or ssh://user@host[:port]/path to pull from another machine))',
    );
  });

  it('wrong types show the received value and its type', () => {
    const issues = errorFor('parallel: "4"\nstate_dir: 12\n').issues;
    expect(issues.map((issue) => issue.message)).toEqual([
      'wrong type (got the string "4"; expected an integer from 1 to 16)',
      'wrong type (got the number 12; expected a string — put it in quotes: "12")',
    ]);
  });

  it('invalid record keys point at the key', () => {
    const [issue] = errorFor('targets:\n  "usb disk":\n    path: /x\n').issues;
    expect(issue).toMatchObject({ line: 2, column: 3, path: 'targets."usb disk"' });
    expect(issue!.message).toContain('is not a valid name (got "usb disk"; expected letters, digits');
  });

  it('refinement messages become "problem (got …; expected …)"', () => {
    const [issue] = errorFor('defaults:\n  snapshot_retention:\n    preserve: 7d 3d\n').issues;
    expect(issue!.message).toBe(
      'unit "d" appears more than once (got "7d 3d"; expected a preserve matrix like "24h 7d 4w 6m 2y" with each unit at most once)',
    );
  });

  it('duplicate keys are errors at the second occurrence', () => {
    const [issue] = errorFor('parallel: 1\nstate_dir: /x\nparallel: 2\n').issues;
    expect(issue).toMatchObject({ line: 3, column: 1, path: 'parallel' });
    expect(issue!.message).toContain('duplicate key (first defined at line 1');
  });

  it('duplicate keys in nested mappings are found too', () => {
    const [issue] = errorFor('subvolumes:\n  home:\n    path: /a\n    path: /b\n').issues;
    expect(issue).toMatchObject({ line: 4, path: 'subvolumes.home.path' });
  });

  it('YAML syntax errors carry line and column', () => {
    const [issue] = errorFor('subvolumes:\n  home:\n    path: /x\n   targets: []\n').issues;
    expect(issue).toMatchObject({ line: 4, column: 1, path: '' });
    expect(issue!.message).toMatch(/^YAML syntax error: .* \(BAD_INDENT; expected consistent indentation/);
  });

  it('an unclosed quote is reported where it opens', () => {
    const [issue] = errorFor("state_dir: '/x\nparallel: 2\nsubvolumes: {}\n").issues;
    expect(issue).toMatchObject({ line: 1, column: 12 });
    expect(issue!.message).toContain("expected a closing ' at the end of the value");
  });

  it('unresolved aliases and tags are errors, not silent values', () => {
    expect(errorFor('subvolumes: *missing\n').issues[0]!.message).toContain(
      'YAML alias *missing refers to no anchor',
    );
    expect(errorFor('parallel: !int 3\n').issues[0]!.message).toContain('Unresolved tag');
  });

  it('an alias bomb is refused, not expanded', () => {
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x]'];
    for (const [index, name] of ['b', 'c', 'd', 'e', 'f', 'g'].entries()) {
      const previous = String.fromCharCode('a'.charCodeAt(0) + index);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${previous}`).join(', ')}]`);
    }
    const [issue] = errorFor(`${levels.join('\n')}\n`).issues;
    expect(issue!.message).toMatch(/^YAML problem: .*alias/i);
  });

  it('anchors and aliases that resolve are fine', () => {
    const loaded = parseConfigText(
      'defaults:\n  snapshot_retention: &keep\n    preserve: 7d\n  target_retention: *keep\n',
      file,
    );
    expect(loaded.config.defaults.target_retention).toEqual({ preserve: '7d' });
  });

  it('errors inside aliased content point at the anchor', () => {
    const [issue] = errorFor(
      'defaults:\n  snapshot_retention: &keep\n    preserve: 7x\n  target_retention: *keep\n',
    ).issues;
    expect(issue!.line).toBe(3);
  });

  it('a top level that is not a mapping is a clear error', () => {
    expect(errorFor('- a\n- b\n').issues[0]!.message).toBe(
      'the top level must be a mapping of sections (got a list ["a","b"]; expected a mapping with keys state_dir, parallel, defaults, ssh, targets, subvolumes, repositories, sources, backup_sets, infra, schedules, sleep, metrics, notify)',
    );
    expect(errorFor('just text\n').issues[0]!.message).toContain('got the string "just text"');
  });

  it('an empty or comment-only file is an error (a config that backs up nothing is likely a mistake)', () => {
    for (const text of ['', '\n\n', '# only a comment\n']) {
      const [issue] = errorFor(text).issues;
      expect(issue).toMatchObject({ line: 1, column: 1, path: '' });
      expect(issue!.message).toContain('the file is empty or holds only comments');
      expect(issue!.message).toContain('snapkeep config init');
    }
  });

  it('an explicit empty mapping is valid: all defaults, nothing to back up', () => {
    const loaded = parseConfigText('{}\n', file);
    expect(loaded.resolved).toEqual({
      stateDir: '/var/lib/snapkeep',
      parallel: 4,
      ssh: {},
      subvolumes: [],
      backupSets: [],
      schedules: [],
      metrics: { textfileRuns: 'scheduled' },
      notify: {
        channels: [],
        interactive: false,
        remindSeconds: 86_400,
        timeoutSeconds: 10,
        fullBelowPercent: 10,
        fullWithinDays: 7,
      },
    });
  });

  it('YAML 1.2: yes/on are strings, so they are rejected where booleans would be wrong', () => {
    const [issue] = errorFor('parallel: yes\n').issues;
    expect(issue!.message).toContain('got the string "yes"');
  });
});

describe('helpers', () => {
  it('formatKeyPath quotes names that are not plain and indexes lists', () => {
    expect(formatKeyPath(['subvolumes', 'home', 'targets', 0])).toBe('subvolumes.home.targets[0]');
    expect(formatKeyPath(['targets', 'usb disk'])).toBe('targets."usb disk"');
    expect(formatKeyPath(['targets', 'a.b'])).toBe('targets."a.b"');
    expect(formatKeyPath([])).toBe('');
  });

  it('closestMatch finds likely typos and nothing else', () => {
    expect(closestMatch('snapshotdir', ['path', 'snapshot_dir', 'snapshot_name'])).toBe('snapshot_dir');
    expect(closestMatch('snapshot-dir', ['snapshot_dir'])).toBe('snapshot_dir');
    expect(closestMatch('Parallel', ['parallel'])).toBe('parallel');
    expect(closestMatch('completely_different', ['path', 'targets'])).toBeUndefined();
  });

  it('renderValue shows strings quoted (control characters escaped) and structures briefly', () => {
    expect(renderValue('a\u0001b')).toBe('"a\\u0001b"');
    expect(renderValue(2)).toBe('2');
    expect(renderValue(null)).toBe('an empty value');
    expect(renderValue(undefined)).toBe('nothing');
    expect(renderValue([1, 2])).toBe('a list [1,2]');
    expect(renderValue({ a: 'x'.repeat(100) })).toMatch(/^a mapping \{"a":"x+…$/);
  });

  it('formatConfigIssue: file:line:col: path: message, or just the file when there is no position', () => {
    expect(formatConfigIssue({ file: '/c.yaml', line: 3, column: 5, path: 'a.b', message: 'bad' })).toBe(
      '/c.yaml:3:5: a.b: bad',
    );
    expect(formatConfigIssue({ file: '/c.yaml', path: '', message: 'not found' })).toBe('/c.yaml: not found');
  });
});

describe('resolveConfigPath', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });

  it('--config wins over $SNAPKEEP_CONFIG, which wins over the default', () => {
    vi.stubEnv('SNAPKEEP_CONFIG', '/from/env.yaml');
    expect(resolveConfigPath('/from/flag.yaml')).toBe('/from/flag.yaml');
    expect(resolveConfigPath()).toBe('/from/env.yaml');
    vi.stubEnv('SNAPKEEP_CONFIG', '');
    expect(resolveConfigPath()).toBe(defaultConfigPath);
    expect(defaultConfigPath).toBe('/etc/snapkeep/snapkeep.yaml');
  });

  it('makes relative paths absolute; an empty --config is an error', () => {
    expect(resolveConfigPath('conf/s.yaml')).toBe(resolve('conf/s.yaml'));
    expect(() => resolveConfigPath('')).toThrow(ConfigError);
  });
});

describe('loadConfig', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'snapkeep-load-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads, validates and resolves a file', async () => {
    const path = join(dir, 'ok.yaml');
    await writeFile(path, minimal);
    const loaded = await loadConfig(path);
    expect(loaded.path).toBe(path);
    expect(loaded.resolved.subvolumes[0]!.targets[0]!.path).toBe('/mnt/usb');
  });

  it('uses $SNAPKEEP_CONFIG when no flag is given', async () => {
    const path = join(dir, 'env.yaml');
    await writeFile(path, minimal);
    vi.stubEnv('SNAPKEEP_CONFIG', path);
    try {
      expect((await loadConfig()).path).toBe(path);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('a missing file: exit 2, the path, and how to create one', async () => {
    const path = join(dir, 'missing.yaml');
    const error = await loadConfig(path).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    expect(configError.exitCode).toBe(2);
    expect(configError.message).toBe(
      `${path}: configuration file not found (given with --config); create one with: snapkeep config init --output ${path}  (or pass --config <file>, or set SNAPKEEP_CONFIG)`,
    );
    expect(configError.issues).toEqual([{ file: path, path: '', message: expect.any(String) as string }]);
  });

  it('a directory instead of a file: exit 2', async () => {
    const error = (await loadConfig(dir).catch((caught: unknown) => caught)) as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toContain('is a directory');
  });

  it('a malformed file: the error names the real path', async () => {
    const path = join(dir, 'bad.yaml');
    await writeFile(path, 'parallel: 0\n');
    const error = (await loadConfig(path).catch((caught: unknown) => caught)) as ConfigError;
    expect(error.issues[0]!.file).toBe(path);
    expect(error.message).toContain(`${path}:1:11: parallel: too small`);
  });
});

describe('directories that coincide or nest (path-conflicts.ts)', () => {
  const twoTargets = (first: string, second: string): string => `targets:
  a:
    path: ${first}
  b:
    path: ${second}
subvolumes:
  home:
    path: /mnt/root/@home
    targets: [a, b]
`;

  it('ssh:// targets: the same directory on one host is refused whoever logs in; other hosts are apart', () => {
    const same = errorFor(twoTargets('ssh://root@nas:22/srv/copies', 'ssh://backup@nas/srv/copies/'));
    expect(same.issues.map((issue) => [issue.path, issue.line])).toEqual([['targets.b.path', 5]]);
    expect(same.issues[0]!.message).toContain('is the directory of target "a" too');
    expect(() =>
      parseConfigText(twoTargets('ssh://root@nas/srv/copies', 'ssh://root@other/srv/copies'), file),
    ).not.toThrow();
    expect(() => parseConfigText(twoTargets('/srv/copies', 'ssh://root@nas/srv/copies'), file)).not.toThrow();
  });

  it('a local target and an ssh:// subvolume (pull mode) on another host are apart', () => {
    expect(() =>
      parseConfigText(
        `targets:
  a:
    path: /srv/pulled
subvolumes:
  home:
    path: ssh://root@laptop/srv/pulled
    targets: [a]
`,
        file,
      ),
    ).not.toThrow();
  });
});
