// Runs the built CLI (dist/, built once by test/global-setup.ts) as a user would.
import { fileURLToPath } from 'node:url';
import { runCommand, type CommandResult } from '../../src/exec/command.js';
import { catalogueProblems } from './event-catalogue.js';

export const cliPath = fileURLToPath(new URL('../../dist/cli/main.cjs', import.meta.url));

export function snapkeep(
  args: readonly string[],
  options: { env?: Record<string, string>; input?: string } = {},
): Promise<CommandResult> {
  return runCommand({
    file: process.execPath,
    args: [cliPath, ...args],
    env: options.env,
    input: options.input,
  });
}

/**
 * Parse NDJSON stdout; every line must be JSON with a type (the --json contract), and each event
 * must be what README's event catalogue says (its type, its fields, the one time format).
 */
export function events(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (typeof parsed.type !== 'string') throw new Error(`NDJSON line without a type: ${line}`);
      const problems = catalogueProblems(parsed);
      if (problems.length > 0) throw new Error(`${problems.join('; ')}: ${line.slice(0, 2000)}`);
      return parsed;
    });
}

/** Assert an exit code, showing the command's output when it differs (a bare number says nothing). */
export function expectExit(result: CommandResult, code: number): void {
  if (result.exitCode !== code) {
    throw new Error(
      `expected exit ${code}, got ${result.exitCode}\n--- stdout ---\n${result.stdout.slice(-4000)}\n--- stderr ---\n${result.stderr.slice(-4000)}`,
    );
  }
}
