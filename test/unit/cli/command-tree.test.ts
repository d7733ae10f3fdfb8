// Every command module under src/cli/commands/ is registered by program.ts, and the tree has
// exactly the commands, arguments and flags it had when each command got its own module: a
// module left out of program.ts, or a flag lost, changes the list. A command run by name builds
// only its own module's commands, which must be the same ones. (Wording and defaults: the man
// page and completion tests, test/integration/install.test.ts.)
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import type { CommandRegistration } from '../../../src/cli/commands/registration.js';
import { commandNamed, createProgram } from '../../../src/cli/program.js';

/** Hidden ones included: one line per command, its arguments, and its options' long names. */
function commandLines(command: Command, path: readonly string[] = []): string[] {
  return command.commands.flatMap((sub) => {
    const here = [...path, sub.name()];
    const words = [
      ...here,
      ...sub.registeredArguments.map((argument) => {
        const name = `${argument.name()}${argument.variadic ? '...' : ''}`;
        return argument.required ? `<${name}>` : `[${name}]`;
      }),
    ];
    const options = sub.options.map((option) => option.long ?? option.short ?? option.flags);
    const line = words.join(' ') + (options.length > 0 ? ` : ${options.join(' ')}` : '');
    return [line, ...commandLines(sub, here)];
  });
}

const expected = [
  'completion <shell>',
  'man',
  'run [subvolumes...] : --config --json --dry-run --lock-wait',
  'snapshot [subvolumes...] : --config --json --dry-run --lock-wait --deadline',
  'resume [subvolumes...] : --config --json --dry-run --lock-wait',
  'prune [subvolumes...] : --config --json --dry-run --lock-wait',
  'clean [subvolumes...] : --config --json --dry-run --lock-wait',
  'list [names...] : --config --json --what',
  'diff <subvolume> [from] [to] : --config --json',
  'status : --config --json',
  'check [job...] : --config --max-age',
  'config',
  'config init : --output',
  'config import-btrbk <file> : --output --json',
  'config validate : --config --json',
  'config show : --config --json',
  'retention',
  'retention preview : --preserve --preserve-min --day-of-week --hour-of-day --now --json',
  'remote',
  'remote filter : --print',
  'remote setup : --root --user --public-key --no-delete --no-send --no-snapshot --log --filter-path --sshd-config --install --yes --watch --unwatch --watch-notify --watch-threshold --watch-remind --identity --dry-run --config --json',
  'remote verify <target> : --host-key --config --json',
  'backup [sets...] : --config --json --dry-run --lock-wait',
  'restore [name] [snapshot] : --from --to --path --read-only --full --force --database --only --exact --yes --config --json --dry-run --lock-wait',
  'pull <from> <name> : --into --snapshot --checkout --force --keep --config --json --dry-run --lock-wait',
  'verify [names...] : --parts --drill --from --dry-run --config --json --lock-wait',
  'repo',
  'repo init [names...] : --config --json --dry-run',
  'repo check-permissions <name> : --config --json',
  'infra',
  'infra init : --config --json',
  'infra plan : --config --json',
  'infra apply : --config --json --yes --dry-run --lock-wait --wait',
  'infra destroy : --config --json --confirm-volume --dry-run --lock-wait',
  'infra output : --config --json',
  'doctor [what] : --target --stale-hours --outputs --region --instance-id --volume-id --aws-endpoint --mount-point --config --json',
  'quickstart : --state-dir --cleanup --json',
  'schedule',
  'schedule show : --config --json --backend --user --unit-dir --cron-file',
  'schedule install : --config --json --backend --user --unit-dir --cron-file --dry-run',
  'schedule remove : --config --json --backend --user --unit-dir --cron-file --dry-run',
  'schedule status : --config --json --backend --user --unit-dir --cron-file',
  'schedule catch-up : --config --json --dry-run',
  'notify-failure <unit> : --config --json --dry-run',
  'notify',
  'notify test [channel] : --config --json',
  'notify watchdog : --config --json --dry-run',
  'metrics : --config --write-textfile',
];

describe('the command tree', () => {
  it('has every command with its arguments and flags', () => {
    expect(commandLines(createProgram('0.0.0', () => undefined))).toEqual(expected);
  });

  it('registers the commands of every module in src/cli/commands/', async () => {
    const directory = fileURLToPath(new URL('../../../src/cli/commands/', import.meta.url));
    const modules = (await readdir(directory)).filter(
      (name) => name.endsWith('.ts') && name !== 'registration.ts',
    );
    expect(modules.length).toBeGreaterThan(10);
    const registered = new Set(commandLines(createProgram('0.0.0', () => undefined)));
    for (const name of modules) {
      const exports = (await import(join(directory, name))) as Record<string, unknown>;
      const registers = Object.entries(exports).filter(
        (entry): entry is [string, (registration: CommandRegistration) => void] =>
          entry[0].startsWith('register') && typeof entry[1] === 'function',
      );
      expect(
        registers.map(([exported]) => exported),
        name,
      ).toHaveLength(1);
      // The module's commands alone, on a program of their own.
      const program = new Command('snapkeep');
      registers[0]![1]({
        program,
        version: '0.0.0',
        defer: () => undefined,
        configOption: () => new Option('-c, --config <file>'),
        jsonOption: () => new Option('--json'),
        dryRunOption: () => new Option('-n, --dry-run'),
        lockWaitOption: () => new Option('--lock-wait <duration>'),
      });
      const own = commandLines(program);
      expect(own.length, name).toBeGreaterThan(0);
      for (const line of own) expect(registered, `${name}: ${line}`).toContain(line);
    }
  });

  it("builds only the named command's module, with the same commands and flags", () => {
    const topLevel = [...new Set(expected.map((line) => line.split(/[ :]/)[0]!))];
    for (const name of topLevel) {
      const lines = commandLines(createProgram('0.0.0', () => undefined, name));
      expect(lines, name).toEqual(
        expect.arrayContaining(expected.filter((line) => line.split(/[ :]/)[0] === name)),
      );
      for (const line of lines) expect(expected, `${name}: ${line}`).toContain(line);
      // Not the whole tree: program.ts knows which module adds the command.
      if (name !== 'completion' && name !== 'man') expect(lines.length, name).toBeLessThan(expected.length);
    }
    expect(
      createProgram('0.0.0', () => undefined, 'status').commands.map((command) => command.name()),
    ).toEqual(['status']);
    // The man page and the completion scripts describe everything.
    expect(commandLines(createProgram('0.0.0', () => undefined, 'man'))).toEqual(expected);
    expect(commandLines(createProgram('0.0.0', () => undefined, 'no-such-command'))).toEqual(expected);
  });

  it("finds the command past the program's own options, and gives up on anything else", () => {
    expect(commandNamed(['status', '--json'])).toBe('status');
    expect(commandNamed(['-c', 'status', 'check'])).toBe('check');
    expect(commandNamed(['--config', 'file', '-q', 'run', 'home'])).toBe('run');
    expect(commandNamed(['--config=file', '--quiet', 'list'])).toBe('list');
    expect(commandNamed(['-qc', 'file', 'status'])).toBeUndefined();
    expect(commandNamed(['--help'])).toBeUndefined();
    expect(commandNamed(['-c'])).toBeUndefined();
    expect(commandNamed([])).toBeUndefined();
  });
});
