// The restic versions the tests run against: Debian 12's 0.14 (installed by scripts/install-deps.sh)
// and Debian 13's 0.18, fetched into .cache/ by scripts/fetch-restic.sh without touching apt's sources.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../../src/exec/command.js';

export interface ResticBinary {
  readonly version: string;
  readonly path: string;
}

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));

const expected = [
  { minor: '0.14', path: '/usr/bin/restic' },
  { minor: '0.18', path: join(repoRoot, '.cache', 'restic-0.18', 'restic') },
] as const;

const fix = 'run scripts/fetch-restic.sh (scripts/install-deps.sh --test runs it)';

/** The version a restic binary reports, e.g. "0.14.0" from "restic 0.14.0 compiled with go1.19.8 on linux/amd64". */
async function versionOf(path: string): Promise<string> {
  // runCommand rejects when the file does not exist ("command not found"); a non-zero exit is a result.
  const result = await runCommand({ file: path, args: ['version'], timeoutMs: 30_000 }).catch(
    (error: unknown) => {
      throw new Error(
        `restic ${path} is missing (${error instanceof Error ? error.message : String(error)}); ${fix}`,
      );
    },
  );
  if (result.exitCode !== 0) {
    throw new Error(
      `restic ${path} is broken: \`version\` exited with ${result.exitCode}: ${result.stderr.trim()}; ${fix}`,
    );
  }
  const match = /^restic (\d+\.\d+\.\d+)/m.exec(result.stdout);
  if (!match) throw new Error(`${path} version printed no restic version: ${result.stdout.trim()}; ${fix}`);
  return match[1]!;
}

/** The restic binaries to test against: Debian's 0.14 and the fetched 0.18. Throws with a clear message
 *  naming scripts/fetch-restic.sh when one is missing (CI must not silently skip). */
export async function resticBinaries(): Promise<ResticBinary[]> {
  return Promise.all(
    expected.map(async ({ minor, path }) => {
      const version = await versionOf(path);
      if (!version.startsWith(`${minor}.`)) {
        throw new Error(`${path} is restic ${version}, expected ${minor}.x; ${fix}`);
      }
      return { version, path };
    }),
  );
}
