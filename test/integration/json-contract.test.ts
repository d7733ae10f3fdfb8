// The --json scripting contract (README "Scripting with --json"), for every command that takes
// --json (read from the command tree, so a new command is covered when it is added): every
// stdout line is JSON with a `type`, the last one is the single `summary`, and a command that
// fails says so as one `error` event (then the summary) with nothing else on stdout. Run where no
// external host is needed: a missing config, an invalid config, a refused flag, and the cheap
// commands that need no config.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { allCommands, describeCommandTree, type CommandNode } from '../../src/cli/command-tree.js';
import { createProgram } from '../../src/cli/program.js';
import { ExitCode } from '../../src/errors.js';
import { events, snapkeep } from '../helpers/cli.js';

const directory = mkdtempSync(join(tmpdir(), 'snapkeep-json-contract-'));
const missing = join(directory, 'missing.yaml');
const invalid = join(directory, 'invalid.yaml');
writeFileSync(
  invalid,
  `state_dir: ${join(directory, 'state')}\nsubvolumes:\n  - path: 42\n    snapshot_dir: [1]\n`,
);

const jsonCommands = allCommands(describeCommandTree(createProgram('0.0.0', () => undefined))).filter(
  (node) => node.options.some((option) => option.names.includes('--json')),
);

const takes = (node: CommandNode, name: string): boolean =>
  node.options.some((option) => option.names.includes(name));
/** A placeholder for each required argument (`<target>`), so the line parses. */
const placeholders = (node: CommandNode): string[] =>
  node.arguments.filter((argument) => argument.term.startsWith('<')).map(() => 'placeholder');

// Absolute paths of files nothing creates: an env without SNAPKEEP_CONFIG, state under the temp dir.
const env = { SNAPKEEP_CONFIG: '', SNAPKEEP_CACHE_DIR: 'off', XDG_STATE_HOME: directory, HOME: directory };

async function run(args: readonly string[]): Promise<{ exitCode: number; lines: Record<string, unknown>[] }> {
  const result = await snapkeep(args, { env, input: '' });
  const lines = events(result.stdout); // throws on a line that is not JSON with a type
  return { exitCode: result.exitCode ?? -1, lines };
}

/** The contract every --json run keeps; returns the events before the summary. */
function expectContract(
  label: string,
  result: { exitCode: number; lines: Record<string, unknown>[] },
  command: readonly string[],
): Record<string, unknown>[] {
  const { lines, exitCode } = result;
  expect(lines.length, label).toBeGreaterThan(0);
  expect(
    lines.filter((line) => line.type === 'summary'),
    label,
  ).toHaveLength(1);
  expect(lines.at(-1), label).toMatchObject({ type: 'summary', v: 1, command: command.join(' '), exitCode });
  expect(typeof lines.at(-1)!.outcome, label).toBe('string');
  for (const check of lines.filter((line) => line.type === 'check'))
    expect(['ok', 'warn', 'fail', 'skip'], label).toContain(check.status);
  return lines.slice(0, -1);
}

/** A failure with nothing to report but itself: exactly the error event, then the summary. */
function expectErrorOnly(label: string, before: Record<string, unknown>[], exitCode: number): void {
  expect(before, label).toHaveLength(1);
  expect(before[0], label).toMatchObject({ type: 'error', exitCode });
  expect(typeof before[0]!.code, label).toBe('string');
  expect(String(before[0]!.message).length, label).toBeGreaterThan(0);
}

afterAll(() => {
  rmSync(directory, { recursive: true, force: true });
});

describe('--json contract of every command', () => {
  it('finds the commands that take --json', () => {
    expect(jsonCommands.length).toBeGreaterThan(30);
  });

  it.each(jsonCommands.map((node) => [node.path.join(' '), node] as const))(
    '%s: a refused flag is an error event and the summary',
    async (_name, node) => {
      const args = [...node.path, ...placeholders(node), '--json', '--no-such-flag'];
      const result = await run(args);
      expect(result.exitCode).toBe(ExitCode.usage);
      expectErrorOnly(args.join(' '), expectContract(args.join(' '), result, node.path), ExitCode.usage);
    },
  );

  const withConfig = jsonCommands.filter((node) => takes(node, '--config'));
  it.each(withConfig.map((node) => [node.path.join(' '), node] as const))(
    '%s: a missing and an invalid config',
    async (_name, node) => {
      for (const config of [missing, invalid]) {
        const args = [...node.path, ...placeholders(node), '--json', '--config', config];
        const label = args.join(' ');
        const result = await run(args);
        const before = expectContract(label, result, node.path);
        // `schedule remove` needs no config to remove nothing: then only the contract holds.
        if (result.exitCode === ExitCode.ok) continue;
        // doctor diagnoses the config (a failing check) rather than stopping at it.
        // config validate's verdict is its `config` event (valid: false).
        if (node.path.join(' ') === 'config validate')
          expect(
            before.some((line) => line.type === 'config' && line.valid === false),
            label,
          ).toBe(true);
        else if (node.path[0] === 'doctor')
          expect(
            before.some((line) => line.type === 'check' && line.status === 'fail'),
            label,
          ).toBe(true);
        else expectErrorOnly(label, before, result.exitCode);
      }
    },
  );

  it('a command that succeeds ends with its summary too (retention preview)', async () => {
    const result = await snapkeep(
      ['retention', 'preview', '--json', '--preserve', '2d', '--now', '2026-11-20T12:00:00'],
      {
        env: { ...env, TZ: 'UTC' },
        input: 'home.20261120T1000\nhome.20261101T1000\n',
      },
    );
    expect(result.exitCode).toBe(0);
    const before = expectContract('retention preview', { exitCode: 0, lines: events(result.stdout) }, [
      'retention',
      'preview',
    ]);
    expect(before.length).toBeGreaterThan(0);
    expect(before.some((line) => line.type === 'error')).toBe(false);
    expect(events(result.stdout).at(-1)).toMatchObject({ outcome: 'ok' });
  });
});
