#!/usr/bin/env node
// snapkeep's entry point. It is CommonJS and loads the whole CLI as one bundle with a V8 code
// cache, because on Node 20 that is the only way to skip compiling the CLI on every start (Node
// 22's module compile cache does not exist there): measured, loading the ESM module graph of a
// `run` costs ~27 ms, the cached bundle ~7 ms — a large share of a no-change run's ~80 ms. (yaml
// and zod stay outside the bundle: they load only when a configuration is validated afresh.)
//
//   dist/cli/snapkeep.bundle.cjs   the tsc output of src/, bundled by scripts/bundle.mjs
//   <cache dir>/code-<command>-<node>-<bundle size and mtime>.bin   V8's compiled code for it,
//       written after a command's first run (so it holds the functions that command uses),
//       one per top-level command; any rebuild or Node upgrade changes the name.
//
// Without a bundle, or with one older than the tsc output (a build that skipped the bundler),
// the ES modules in dist/ run directly: slower to start, same behaviour.
import { isAscii } from 'node:buffer';
import {
  closeSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import Module from 'node:module';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Script } from 'node:vm';

type RunCli = (argv: readonly string[], version: string) => Promise<number>;

// A closed stdout or stderr (`snapkeep list | head -1`, a terminal that went away) ends the
// output, never the command: a write error is an 'error' event, which would otherwise be an
// uncaught exception. Once, here, for every command; a run carries on, journals its end, and its
// exit code says what happened to the backup.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);

const bundlePath = join(__dirname, 'snapkeep.bundle.cjs');
const debug = Boolean(process.env.SNAPKEEP_DEBUG);

function packageVersion(): string {
  return (
    JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
  ).version;
}

/** The same directory as the validated-config cache (config-cache.ts); undefined when off. */
function cacheDirectory(): string | undefined {
  const configured = process.env.SNAPKEEP_CACHE_DIR;
  if (configured === 'off') return undefined;
  if (configured) return configured;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'snapkeep');
}

/** Compiled code is code: only a file this user owns and nobody else can write is trusted. */
function readTrusted(path: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const info = fstatSync(fd);
    if (info.uid !== process.getuid?.() || (info.mode & 0o022) !== 0) return undefined;
    return readFileSync(fd);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The command's name past the program's options (`snapkeep -c FILE -q run` runs `run`). */
function commandWord(args: readonly string[]): string {
  for (let index = 0; index < args.length; index++) {
    const arg = args[index]!;
    if (arg === '-c' || arg === '--config') index++;
    else if (!arg.startsWith('-')) return /^[a-z][a-z-]*$/.test(arg) ? arg : 'other';
  }
  return 'other';
}

interface LoadedBundle {
  readonly runCli: RunCli;
  /** Writes the code cache when there was none (or V8 rejected it); best effort. */
  readonly saveCodeCache: () => void;
}

function loadBundle(): LoadedBundle | undefined {
  let bundle;
  try {
    bundle = statSync(bundlePath);
    if (bundle.mtimeMs < statSync(join(__dirname, 'program.js')).mtimeMs) {
      if (debug) process.stderr.write(`snapkeep debug: ${bundlePath} is older than the build; not used\n`);
      return undefined;
    }
  } catch {
    return undefined;
  }
  const directory = cacheDirectory();
  const command = commandWord(process.argv.slice(2));
  const prefix = `code-${command}-`;
  const cacheName = `${prefix}${process.version}-${process.arch}-${bundle.size}-${Math.trunc(bundle.mtimeMs)}.bin`;
  const cachePath = directory && join(directory, cacheName);
  const cachedData = cachePath ? readTrusted(cachePath) : undefined;
  // scripts/bundle.mjs writes ASCII: read as Latin-1, it needs no decoding and is a one-byte
  // string (half the memory of the two-byte string a single other character would make).
  const bytes = readFileSync(bundlePath);
  const source = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
  const script = new Script(Module.wrap(source), {
    filename: bundlePath,
    cachedData,
  });
  const module = { exports: {} as { runCli?: RunCli } };
  const wrapper = script.runInThisContext() as (...args: unknown[]) => void;
  wrapper.call(
    module.exports,
    module.exports,
    Module.createRequire(bundlePath),
    module,
    bundlePath,
    __dirname,
  );
  if (!module.exports.runCli) return undefined;
  return {
    runCli: module.exports.runCli,
    saveCodeCache() {
      if (!directory || !cachePath || (cachedData && !script.cachedDataRejected)) return;
      try {
        mkdirSync(directory, { recursive: true, mode: 0o700 });
        const temporary = `${cachePath}.${process.pid}.tmp`;
        writeFileSync(temporary, script.createCachedData(), { mode: 0o600 });
        renameSync(temporary, cachePath);
        // Caches of earlier builds of this command are dead weight.
        for (const name of readdirSync(directory))
          if (name.startsWith(prefix) && name.endsWith('.bin') && name !== cacheName)
            rmSync(join(directory, name), { force: true });
      } catch (error) {
        if (debug) process.stderr.write(`snapkeep debug: code cache not written: ${String(error)}\n`);
      }
    },
  };
}

async function main(): Promise<void> {
  // Fast path: answering --version must not pay for loading the CLI.
  if (process.argv.length === 3 && (process.argv[2] === '--version' || process.argv[2] === '-V')) {
    process.stdout.write(`${packageVersion()}\n`);
    return;
  }
  const bundle = loadBundle();
  const runCli = bundle?.runCli ?? (await import('./program.js')).runCli;
  process.exitCode = await runCli(process.argv, packageVersion());
  bundle?.saveCodeCache();
}

main().catch((error: unknown) => {
  // runCli reports its own errors; this is only reached when the CLI itself cannot be loaded.
  process.stderr.write(
    `snapkeep: cannot start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
  );
  process.exitCode = 1;
});
