// `quickstart`: the embedded default. Builds the sandbox and runs the whole cycle through the
// same engine as `snapkeep run` — snapshot, full send, change data, incremental send, prune —
// then restores a file from the target copy and proves it with a checksum.
import { copyFile, mkdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { runEngineCommand } from './engine-command.js';
import { ExitCode, SnapkeepError } from '../errors.js';
import { Inventory, datedSubvolumes } from '../btrfs/inventory.js';
import {
  changeSampleData,
  createSandbox,
  destroySandbox,
  sandboxLayout,
  sha256File,
} from '../quickstart/sandbox.js';
import { createOutput } from './output.js';

export interface QuickstartOptions {
  readonly stateDir: string;
  readonly cleanup: boolean;
  readonly json: boolean;
}

export async function runQuickstart(options: QuickstartOptions): Promise<number> {
  const output = createOutput(options.json);
  if (process.getuid?.() !== 0) {
    throw new SnapkeepError(
      'quickstart mounts loop devices and must run as root (try: sudo snapkeep quickstart)',
      ExitCode.usage,
    );
  }
  if (!options.stateDir.startsWith('/'))
    throw new SnapkeepError(`--state-dir must be absolute, got ${options.stateDir}`, ExitCode.usage);
  if (options.cleanup) {
    const removed = await destroySandbox(options.stateDir);
    output.event('quickstart', { action: 'cleanup', removed, root: sandboxLayout(options.stateDir).root });
    output.text(
      removed ? `removed the sandbox ${sandboxLayout(options.stateDir).root}` : 'no sandbox to remove',
    );
    return ExitCode.ok;
  }

  const say = (step: string, text: string): void => {
    output.event('quickstart', { step, message: text });
    output.text(`\n== ${text}`);
  };
  say(
    'sandbox',
    `building a sandbox under ${sandboxLayout(options.stateDir).root} (two 256 MiB loop-mounted btrfs images)`,
  );
  const sandbox = await createSandbox(options.stateDir);
  const engine = (command: 'run', dryRun = false): Promise<number> =>
    runEngineCommand(command, { config: sandbox.configPath, json: options.json, dryRun, only: [] });

  say('plan', 'first run, as a plan (--dry-run changes nothing)');
  await engine('run', true);
  say('full', 'first run: snapshot + full send to the target disk');
  let code = await engine('run');
  if (code !== ExitCode.ok) return code;

  const edited = await changeSampleData(sandbox.subvolumePath);
  say(
    'change',
    `changed the data: edited ${relative(sandbox.subvolumePath, edited)}, added photos/photo-new.jpg`,
  );
  say('incremental', 'second run: snapshot + incremental send (only the changes travel) + prune');
  code = await engine('run');
  if (code !== ExitCode.ok) return code;

  // Restore: take the newest copy on the target and bring one file back.
  const copies = datedSubvolumes(await new Inventory().subvolumesIn(sandbox.targetDir), 'data').sort(
    (a, b) => a.date.epochSeconds - b.date.epochSeconds || a.date.sequence - b.date.sequence,
  );
  const newest = copies.at(-1);
  if (!newest) throw new SnapkeepError('no copy arrived on the target; see the messages above');
  const restoredDir = join(sandbox.root, 'restored');
  await mkdir(restoredDir, { recursive: true });
  const fromCopy = join(newest.path, relative(sandbox.subvolumePath, edited));
  const restored = join(restoredDir, 'note-3.txt');
  await copyFile(fromCopy, restored);
  const [expected, actual] = await Promise.all([sha256File(edited), sha256File(restored)]);
  const verified = expected === actual;
  say(
    'restore',
    `restored ${relative(sandbox.subvolumePath, edited)} from the target copy ${newest.name} to ${restored}`,
  );
  output.event('quickstart', { step: 'verify', verified, sha256: actual, expected });
  output.text(
    `   sha256 ${actual} ${verified ? '= the original: restore verified' : `!= the original ${expected}: RESTORE MISMATCH`}`,
  );
  if (!verified) return ExitCode.fatal;

  output.text(`
== done. What to try next:
   snapkeep list -c ${sandbox.configPath}              # snapshots, copies, latest common pair
   snapkeep run -c ${sandbox.configPath} --dry-run     # the plan for the next run, with reasons
   snapkeep status -c ${sandbox.configPath}            # from the journal: ${join(sandbox.stateDir, 'journal.ndjson')}
   snapkeep quickstart --cleanup${options.stateDir === '/var/lib/snapkeep' ? '' : ` --state-dir ${options.stateDir}`}               # unmount and remove the sandbox

   For your own data: snapkeep config init -o /etc/snapkeep/snapkeep.yaml, edit it,
   snapkeep config validate, snapkeep run --dry-run, then snapkeep run.`);
  return ExitCode.ok;
}
