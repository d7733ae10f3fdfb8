// What `status` and `check` load when they start, through the built CLI (dist/cli/main.cjs and
// its bundle) with the caches warm: no YAML parser and no schema library (the validated-config
// cache answers), no node:crypto (the cache compares the text itself) and no node:child_process
// (they start no child). Read from inside the process by a --require hook, not timed.
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/exec/command.js';
import { cliPath, expectExit } from '../helpers/cli.js';
import { makeTempDir } from '../helpers/loop-btrfs.js';

let directory: string;
let configPath: string;
let hookPath: string;

interface Loaded {
  /** Node's own modules, as process.moduleLoadList names them (`crypto`, `child_process`). */
  readonly builtins: string[];
  /** Files loaded through require (yaml and zod come from node_modules). */
  readonly files: string[];
}

beforeAll(async () => {
  directory = await makeTempDir('start-up-modules');
  for (const name of ['home', 'usb', 'state']) await mkdir(join(directory, name), { recursive: true });
  configPath = join(directory, 'snapkeep.yaml');
  await writeFile(
    configPath,
    `state_dir: ${directory}/state
targets:
  usb:
    path: ${directory}/usb
subvolumes:
  home:
    path: ${directory}/home
    snapshot_dir: ${directory}/home/.snapshots
    targets: [usb]
`,
  );
  // Records at exit what the process loaded.
  hookPath = join(directory, 'record-modules.cjs');
  await writeFile(
    hookPath,
    `const { writeFileSync } = require('node:fs');
process.on('exit', () => {
  const builtins = process.moduleLoadList
    .filter((entry) => entry.startsWith('NativeModule '))
    .map((entry) => entry.slice('NativeModule '.length));
  writeFileSync(process.env.RECORD_MODULES, JSON.stringify({ builtins, files: Object.keys(require.cache) }));
});
`,
  );
});

afterAll(async () => {
  if (directory) await rm(directory, { recursive: true, force: true });
});

async function started(args: readonly string[], expectedExit: number): Promise<Loaded> {
  const record = join(directory, 'modules.json');
  const result = await runCommand({
    file: process.execPath,
    args: ['--require', hookPath, cliPath, ...args],
    env: { RECORD_MODULES: record, SNAPKEEP_CACHE_DIR: join(directory, 'cache') },
  });
  expectExit(result, expectedExit);
  return JSON.parse(await readFile(record, 'utf8')) as Loaded;
}

describe('start-up of status and check', () => {
  it('validates the configuration once, then loads neither yaml, zod, node:crypto nor node:child_process', async () => {
    // Fills the config cache (yaml and zod are loaded to validate) and the code cache.
    // (Never run: the one job is stale, status exits 3 and check 1.)
    const first = await started(['status', '--json', '--config', configPath], 3);
    expect(first.files.some((file) => file.includes('/node_modules/yaml/'))).toBe(true);
    await started(['check', '--config', configPath], 1);
    // Both ran from the bundle (a code cache each), not from the ES modules in dist/.
    const caches = (await readdir(join(directory, 'cache'))).filter((name) => name.startsWith('code-'));
    expect(caches.map((name) => name.split('-')[1]).sort()).toEqual(['check', 'status']);

    for (const [args, exit] of [
      [['status', '--json', '--config', configPath], 3],
      [['check', '--config', configPath], 1],
    ] as const) {
      const loaded = await started(args, exit);
      const packages = loaded.files.filter((file) => /\/node_modules\/(yaml|zod)\//.test(file));
      expect(packages, args[0]).toEqual([]);
      expect(loaded.builtins, args[0]).not.toContain('crypto');
      // They start no child: node:child_process is loaded by the first spawn only.
      expect(loaded.builtins, args[0]).not.toContain('child_process');
    }
  });
});
