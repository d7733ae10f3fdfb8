// Bundles the tsc output (dist/) into one CommonJS file, dist/cli/snapkeep.bundle.cjs, that
// dist/cli/main.cjs loads with a V8 code cache (why: the comment at the top of src/cli/main.cts).
// Bundling dist/ rather than src/ keeps tsc the only compiler: the bundle is the same JavaScript
// the tests import, joined. Run by `npm run build` after tsc.
//
// - Lazily imported commands stay lazy (esbuild wraps them; they initialise on first import).
// - `import()` becomes `require()`: code compiled by vm.Script cannot use dynamic import on
//   Node 20 without --experimental-vm-modules. The AWS SDK stays outside the bundle (it is only
//   needed by `doctor aws`) and is required from node_modules, which ships CommonJS builds; so
//   does nodemailer (only e-mail notifications load it).
// - `import.meta.url` becomes the bundle's own URL. The bundle sits in dist/cli/, at the same
//   depth as every module in dist/, so URLs like '../../package.json' resolve the same.
// - commander requires node:child_process when it loads, for git-style executable subcommands,
//   which snapkeep has none of: it gets a stand-in that loads the module on its first spawn, so
//   the commands that start no child (status, check) do not load it (src/exec/child-process.ts
//   does the same for snapkeep's own children).
// - The bundle is ASCII, so main.cjs reads it as Latin-1 (no UTF-8 decoding, a one-byte
//   string for V8). esbuild escapes strings itself; what it leaves (comments, regular expression
//   literals) is escaped here as \uXXXX, which means the same character in both.
import { build } from 'esbuild';
import { writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

const lazyChildProcessForCommander = {
  name: 'lazy-child-process-for-commander',
  setup(build) {
    build.onResolve({ filter: /^node:child_process$/ }, (args) =>
      /[\\/]node_modules[\\/]commander[\\/]/.test(args.importer)
        ? { path: 'child-process-on-first-spawn', namespace: 'snapkeep' }
        : undefined,
    );
    build.onLoad({ filter: /^child-process-on-first-spawn$/, namespace: 'snapkeep' }, () => ({
      contents: "exports.spawn = (...args) => require('node:child_process').spawn(...args);",
      loader: 'js',
    }));
  },
};

const outfile = 'dist/cli/snapkeep.bundle.cjs';
const result = await build({
  absWorkingDir: root,
  entryPoints: ['dist/cli/program.js'],
  outfile,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['@aws-sdk/*', 'yaml', 'zod', 'nodemailer'],
  supported: { 'dynamic-import': false },
  define: { 'import.meta.url': '__snapkeepBundleUrl', SNAPKEEP_BUNDLED: 'true' },
  banner: { js: "var __snapkeepBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  legalComments: 'none',
  logLevel: 'warning',
  write: false,
  plugins: [lazyChildProcessForCommander],
});
const [output] = result.outputFiles;
// After a backslash the escape would change the meaning (`\—` would become `\\u2014`).
if (/\\[\u0080-\uffff]/.test(output.text))
  throw new Error('bundle: a non-ASCII character follows a backslash');
const ascii = output.text.replace(
  /[\u0080-\uffff]/g,
  (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`,
);
await writeFile(new URL(`../${outfile}`, import.meta.url), ascii);
