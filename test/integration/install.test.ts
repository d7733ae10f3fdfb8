// scripts/install.sh into a temporary --prefix, as a user would: the installed `snapkeep` runs
// from PATH, the man page renders with man(1) without a warning and documents every command and
// option `--help` lists, the completion scripts load in bash, zsh and fish and complete the
// commands `--help` lists, and --uninstall leaves nothing behind.
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, type CommandResult } from '../../src/exec/command.js';
import { expectExit, snapkeep } from '../helpers/cli.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const installScript = join(repoRoot, 'scripts', 'install.sh');
let work = '';
let prefix = '';

const install = (...args: string[]): Promise<CommandResult> =>
  runCommand({ file: installScript, args: ['--prefix', prefix, ...args] });

/** A clean environment for shells: nothing from this user's dotfiles, nothing written to $HOME. */
function shellEnvironment(): Record<string, string> {
  const home = join(work, 'home');
  return {
    HOME: home,
    XDG_CONFIG_HOME: join(home, '.config'),
    XDG_DATA_HOME: join(home, '.local', 'share'),
    XDG_DATA_DIRS: join(prefix, 'share'),
    PATH: `${join(prefix, 'bin')}:${process.env.PATH ?? ''}`,
  };
}

/** The command paths `--help` lists, walked from the top (`help` is commander's, listed too). */
async function helpTree(path: readonly string[] = []): Promise<string[][]> {
  const result = await snapkeep([...path, '--help']);
  expectExit(result, 0);
  const section = /\nCommands:\n([\s\S]*?)(\n\n|$)/.exec(result.stdout)?.[1] ?? '';
  const names = section
    .split('\n')
    .map((line) => /^ {2}(\S+)/.exec(line)?.[1])
    .filter((name): name is string => name !== undefined);
  const found: string[][] = [];
  for (const name of names) {
    found.push([...path, name]);
    if (name !== 'help') found.push(...(await helpTree([...path, name])));
  }
  return found;
}

/** The option words (`-c`, `--config`) that `snapkeep PATH --help` lists. */
async function helpOptions(path: readonly string[]): Promise<string[]> {
  const result = await snapkeep([...path, '--help']);
  const section = /\nOptions:\n([\s\S]*?)(\n\n|$)/.exec(result.stdout)?.[1] ?? '';
  return section
    .split('\n')
    .filter((line) => /^ {2}-/.test(line))
    .flatMap((line) =>
      (line.trim().split(/\s{2,}/)[0] ?? '').split(/[ ,]+/).filter((word) => word.startsWith('-')),
    );
}

let tree: string[][] = [];

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'snapkeep-install-'));
  prefix = join(work, 'prefix');
  await mkdir(join(work, 'home'));
  tree = await helpTree();
  expectExit(await install(), 0);
});

afterAll(async () => {
  // A sandbox a failed quickstart test left is unmounted by quickstart itself first.
  const stateDir = join(work, 'quickstart-state');
  for (const name of await readdir(stateDir).catch(() => []))
    if (name.startsWith('quickstart-'))
      await snapkeep(['quickstart', '--state-dir', stateDir, '--cleanup', name]);
  await rm(work, { recursive: true, force: true });
});

describe('scripts/install.sh', () => {
  it('puts snapkeep on PATH, running from the installed copy', async () => {
    const environment = shellEnvironment();
    const result = await runCommand({
      file: 'bash',
      args: [
        '-c',
        'command -v snapkeep && snapkeep --version && snapkeep -c /nonexistent.yaml config validate',
      ],
      env: environment,
    });
    expect(result.stdout.split('\n')[0]).toBe(join(prefix, 'bin', 'snapkeep'));
    expect(result.stdout.split('\n')[1]).toMatch(/^\d+\.\d+\.\d+$/);
    // The installed CLI loads its configuration code (yaml, zod) from its own node_modules.
    expect(result.stderr).toContain('/nonexistent.yaml: configuration file not found');
    expect(result.exitCode).toBe(2);
  });

  it('installs a man page that man(1) renders without warnings', async () => {
    const page = join(prefix, 'share', 'man', 'man1', 'snapkeep.1');
    const rendered = await runCommand({
      file: 'man',
      args: ['--warnings=all', '-l', page],
      env: { MANWIDTH: '100', MAN_KEEP_FORMATTING: '', LC_ALL: 'C.UTF-8' },
    });
    expectExit(rendered, 0);
    expect(rendered.stderr).toBe('');
    expect(rendered.stdout).toMatch(/^SNAPKEEP\(1\)/);
    // man finds it by name through PATH (PREFIX/bin → PREFIX/share/man).
    const found = await runCommand({ file: 'man', args: ['-w', 'snapkeep'], env: shellEnvironment() });
    expect(found.stdout.trim()).toBe(page);
    // mandb/whatis can read its NAME line.
    const whatis = await runCommand({ file: 'lexgrog', args: [page] });
    expect(whatis.stdout).toContain('"snapkeep - ');
  });

  it('documents in the man page every command and option --help lists', async () => {
    const page = join(prefix, 'share', 'man', 'man1', 'snapkeep.1');
    const rendered = (
      await runCommand({ file: 'man', args: ['-l', page], env: { MANWIDTH: '200', LC_ALL: 'C.UTF-8' } })
    ).stdout;
    expect(tree.length).toBeGreaterThan(20);
    const headings = rendered
      .split('\n')
      .filter((line) => /^ {3}snapkeep/.test(line))
      .map((line) => line.trim());
    for (const path of tree) {
      const name = ['snapkeep', ...path].join(' ');
      if (path.at(-1) === 'help' && path.length === 1) {
        expect(headings).toContain(name); // `snapkeep help --help` is the program's help
        continue;
      }
      if (path.at(-1) === 'help') {
        // `snapkeep config help`: named in its parent's list of commands.
        const parent = rendered.slice(rendered.indexOf(`   snapkeep ${path.slice(0, -1).join(' ')}\n`));
        expect(parent).toMatch(/Commands: [^\n]*help/);
        continue;
      }
      expect(headings, name).toContain(name);
      const start = rendered.indexOf(`\n   ${name}\n`);
      const end = rendered.indexOf('\n   snapkeep', start + 1);
      const section = rendered.slice(start, end === -1 ? undefined : end);
      for (const option of await helpOptions(path)) expect(section, `${name}: ${option}`).toContain(option);
    }
    for (const option of await helpOptions([])) expect(rendered).toContain(option);
  });

  it('installs a bash completion that loads and completes commands, subcommands and values', async () => {
    const script = join(prefix, 'share', 'bash-completion', 'completions', 'snapkeep');
    const complete = async (words: readonly string[]): Promise<string[]> => {
      const quoted = words.map((word) => `'${word}'`).join(' ');
      const result = await runCommand({
        file: 'bash',
        args: [
          '--norc',
          '--noprofile',
          '-c',
          `source "$1" && complete -p snapkeep >&2 && COMP_WORDS=(${quoted}) && COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)) && _snapkeep && printf '%s\\n' "\${COMPREPLY[@]}"`,
          'bash',
          script,
        ],
        env: shellEnvironment(),
      });
      expectExit(result, 0);
      expect(result.stderr).toBe('complete -F _snapkeep snapkeep\n');
      return result.stdout.split('\n').filter(Boolean);
    };
    const top = tree.filter((path) => path.length === 1).map((path) => path[0]);
    expect(await complete(['snapkeep', ''])).toEqual(top);
    expect(await complete(['snapkeep', 'con'])).toEqual(['config']);
    const configSubcommands = tree
      .filter((path) => path.length === 2 && path[0] === 'config')
      .map((path) => path[1]);
    // Past -c and its value (a program option before the command).
    expect(await complete(['snapkeep', '-c', '/etc/x.yaml', 'config', ''])).toEqual(configSubcommands);
    expect(await complete(['snapkeep', 'list', '--what', 's'])).toEqual(['snapshots', 'sets']);
    expect(await complete(['snapkeep', 'run', '--lock'])).toEqual(['--lock-wait']);
    // A file name for -c.
    await writeFile(join(work, 'snapkeep-test.yaml'), '');
    expect(await complete(['snapkeep', 'run', '-c', join(work, 'snapkeep-te')])).toEqual([
      join(work, 'snapkeep-test.yaml'),
    ]);
  });

  it("is found by bash-completion's loader in PREFIX/share, as `snapkeep <TAB>` would", async () => {
    const result = await runCommand({
      file: 'bash',
      args: [
        '--norc',
        '--noprofile',
        '-c',
        'source /usr/share/bash-completion/bash_completion && ! complete -p snapkeep 2>/dev/null && __load_completion snapkeep && complete -p snapkeep',
      ],
      env: shellEnvironment(),
    });
    expectExit(result, 0);
    expect(result.stdout).toBe('complete -F _snapkeep snapkeep\n');
  });

  it('installs a fish completion that fish loads from the prefix and completes', async () => {
    const complete = async (line: string): Promise<string[]> => {
      const result = await runCommand({
        file: 'fish',
        // Not --no-config: it drops the completion path. HOME is a scratch directory.
        args: ['-c', `complete -C '${line}'`],
        env: shellEnvironment(),
      });
      expectExit(result, 0);
      return result.stdout
        .split('\n')
        .filter(Boolean)
        .map((entry) => entry.split('\t')[0]!);
    };
    const top = tree.filter((path) => path.length === 1).map((path) => path[0]!);
    expect((await complete('snapkeep ')).sort()).toEqual([...top].sort());
    expect(await complete('snapkeep infra ap')).toEqual(['apply']);
    expect(await complete('snapkeep -c /x.yaml repo check')).toEqual(['check-permissions']);
    expect(await complete('snapkeep list --what ')).toEqual([
      'all',
      'backups',
      'latest',
      'sets',
      'snapshots',
    ]);
  });

  it('installs a zsh completion that zsh loads and that offers commands and options', async () => {
    const script = join(prefix, 'share', 'zsh', 'site-functions', '_snapkeep');
    // zsh's completion widgets need a terminal; these stand-ins print what would be offered.
    const complete = async (words: readonly string[]): Promise<string> => {
      const result = await runCommand({
        file: 'zsh',
        args: [
          '-f',
          '-c',
          `compdef() { print -r -- "compdef $*" >&2; }
_describe() { local -a items; items=("\${(@P)4}"); print -r -- "\${(@)items%%:*}"; }
compadd() { shift; print -r -- "$*"; }
_files() { print -r -- "(files $*)"; }
source "$1" || exit 1
words=("\${@:2}"); CURRENT=\${#words}; _snapkeep`,
          'zsh',
          script,
          ...words,
        ],
        env: shellEnvironment(),
      });
      expectExit(result, 0);
      expect(result.stderr).toBe('compdef _snapkeep snapkeep\n');
      return result.stdout.trim();
    };
    const top = tree.filter((path) => path.length === 1).map((path) => path[0]);
    expect(await complete(['snapkeep', ''])).toBe(top.join(' '));
    expect(await complete(['snapkeep', '-c', '/x.yaml', 'remote', ''])).toBe(
      tree
        .filter((path) => path.length === 2 && path[0] === 'remote')
        .map((path) => path[1])
        .join(' '),
    );
    expect(await complete(['snapkeep', 'quickstart', '--state-dir', ''])).toBe('(files -/)');
    expect((await complete(['snapkeep', 'run', '-'])).split(' ')).toContain('--dry-run');
  });

  it("leaves quickstart's 'what to try next' lines working as written", async () => {
    const stateDir = join(work, 'quickstart-state');
    const environment = shellEnvironment();
    const run = await runCommand({
      file: 'bash',
      args: ['-c', 'snapkeep quickstart --state-dir "$1"', 'bash', stateDir],
      env: environment,
    });
    expectExit(run, 0);
    // The block of commands under the heading, up to the first blank line.
    const next = run.stdout.slice(run.stdout.indexOf('What to try next:')).split('\n\n')[0] ?? '';
    const lines = next
      .split('\n')
      .filter((line) => /^ {3}snapkeep /.test(line))
      .map((line) => line.replace(/#.*$/, '').trim());
    expect(lines.map((line) => line.split(' ').slice(0, 2).join(' '))).toEqual([
      'snapkeep list',
      'snapkeep run',
      'snapkeep status',
      'snapkeep quickstart',
    ]);
    for (const line of lines) {
      const result = await runCommand({ file: 'bash', args: ['-c', line], env: environment });
      expect(result.exitCode, `${line}\n${result.stderr}`).toBe(0);
    }
    // The last one removed the sandbox, and the state directory quickstart made for it.
    expect(await readdir(work)).not.toContain('quickstart-state');
  });

  it('installs the Prometheus alert rules where Prometheus can be pointed at them, valid for promtool', async () => {
    const rules = join(prefix, 'share', 'snapkeep', 'prometheus', 'snapkeep.rules.yml');
    expect(await readFile(rules, 'utf8')).toBe(
      await readFile(join(repoRoot, 'share', 'prometheus', 'snapkeep.rules.yml'), 'utf8'),
    );
    expect(((await stat(rules)).mode & 0o777).toString(8)).toBe('644');
    const checked = await runCommand({ file: 'promtool', args: ['check', 'rules', rules] });
    expectExit(checked, 0);
    expect(checked.stdout).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('replaces its own earlier install, refuses files it did not install, and --uninstall leaves nothing', async () => {
    expectExit(await install(), 0); // again: an upgrade
    expectExit(await install('--uninstall'), 0);
    expect(await readdir(work)).not.toContain('prefix'); // the prefix it created is gone too

    await mkdir(join(prefix, 'bin'), { recursive: true });
    await writeFile(join(prefix, 'bin', 'snapkeep'), '#!/bin/sh\necho not snapkeep\n');
    const refused = await install();
    expectExit(refused, 1);
    expect(refused.stderr).toContain(
      `${join(prefix, 'bin', 'snapkeep')} exists and was not installed by this script`,
    );
    expect(await readdir(prefix)).toEqual(['bin']);
    expect(await readdir(join(prefix, 'bin'))).toEqual(['snapkeep']);
    await rm(join(prefix, 'bin', 'snapkeep'));

    // Into an existing, empty prefix: uninstall leaves it empty (and the user's own files alone).
    await writeFile(join(prefix, 'bin', 'mine'), '');
    expectExit(await install(), 0);
    expectExit(await install('--uninstall'), 0);
    expect(await readdir(prefix)).toEqual(['bin']);
    expect(await readdir(join(prefix, 'bin'))).toEqual(['mine']);
    expectExit(await install('--uninstall'), 1); // nothing installed now
  });
});
