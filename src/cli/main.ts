#!/usr/bin/env node
// snapkeep's entry point: parses flags and dispatches. Each command's implementation is imported
// lazily so `--version`, `--help` and `status` start fast (DESIGN.md "Fast by construction").
import { readFileSync } from 'node:fs';

const packageVersion = (): string =>
  (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string })
    .version;

// Fast path: answering --version must not pay for loading the CLI parser.
if (process.argv.length === 3 && (process.argv[2] === '--version' || process.argv[2] === '-V')) {
  process.stdout.write(`${packageVersion()}\n`);
} else {
  const { runCli } = await import('./program.js');
  process.exitCode = await runCli(process.argv, packageVersion());
}
