// `quickstart`: the embedded default. Builds the sandbox and runs the whole cycle through the
// same engine as `snapkeep run` — snapshot, full send, change data, incremental send, prune —
// then restores a file from the target copy and proves it with a checksum.
import { copyFile, mkdir, realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { runEngineCommand } from './engine-command.js';
import { ExitCode, SnapkeepError } from '../errors.js';
import { Inventory, datedSubvolumes } from '../btrfs/inventory.js';
import {
  changeSampleData,
  createSandbox,
  destroySandbox,
  findSandboxes,
  sandboxInUseBy,
  sha256File,
} from '../quickstart/sandbox.js';
import { findOnPath } from '../exec/find-on-path.js';
import { createOutput } from './output.js';
import { createPrinter, type Sink, type TextLine } from './printer.js';
import type { QuickstartEvent, QuickstartStepEvent } from './quickstart-events.js';

export interface QuickstartOptions {
  readonly stateDir: string;
  /** true: the only sandbox under the state directory; a string: that sandbox (path or name). */
  readonly cleanup: boolean | string;
  readonly json: boolean;
}

export function quickstartText(event: QuickstartEvent): readonly TextLine[] {
  if ('action' in event) {
    if (event.root === null) return [`no sandbox to remove under ${event.stateDir}`];
    return [event.removed ? `removed the sandbox ${event.root}` : `no sandbox ${event.root} to remove`];
  }
  switch (event.step) {
    case 'verify':
      return [
        `   sha256 ${event.sha256} ${event.verified ? '= the original: restore verified' : `!= the original ${event.expected}: RESTORE MISMATCH`}`,
      ];
    case 'done': {
      const { cli } = event;
      const column = (command: string): string => command.padEnd(Math.max(56, command.length + 2));
      return [
        `
== done. What to try next:
   ${column(`${cli} list -c ${event.config}`)}# snapshots, copies, latest common pair
   ${column(`${cli} run -c ${event.config} --dry-run`)}# the plan for the next run, with reasons
   ${column(`${cli} status -c ${event.config}`)}# from the journal: ${event.journal}
   ${column(`${cli} quickstart --cleanup ${event.root}`)}# unmount and remove this sandbox

   For your own data: ${cli} config init -o /etc/snapkeep/snapkeep.yaml, edit it,
   ${cli} config validate, ${cli} run --dry-run, then ${cli} run.`,
        ...(event.earlier.length > 0
          ? [
              `\n   Earlier sandboxes are still here (each: ${cli} quickstart --cleanup DIR): ${event.earlier.join(', ')}`,
            ]
          : []),
      ];
    }
    default:
      return [`\n== ${event.message}`];
  }
}

export async function runQuickstart(options: QuickstartOptions): Promise<number> {
  const print = createPrinter(createOutput(options.json), quickstartText);
  if (process.getuid?.() !== 0) {
    throw new SnapkeepError(
      'quickstart mounts loop devices and must run as root (try: sudo snapkeep quickstart)',
      ExitCode.usage,
    );
  }
  if (!options.stateDir.startsWith('/'))
    throw new SnapkeepError(`--state-dir must be absolute, got ${options.stateDir}`, ExitCode.usage);
  if (options.cleanup !== false) return cleanup(options.stateDir, options.cleanup, print);

  const say = (step: QuickstartStepEvent['step'], text: string): void => {
    print({ type: 'quickstart', step, message: text });
  };
  const earlier = await findSandboxes(options.stateDir);
  const sandbox = await createSandbox(options.stateDir);
  const built = `built a sandbox in ${sandbox.root} (two 256 MiB loop-mounted btrfs images)`;
  print({
    type: 'quickstart',
    step: 'sandbox',
    message: built,
    root: sandbox.root,
    config: sandbox.configPath,
  });
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
  print({ type: 'quickstart', step: 'verify', verified, sha256: actual, expected });
  if (!verified) return ExitCode.fatal;

  // The lines below must work when pasted: `snapkeep` where that is this CLI, else how it was run.
  print({
    type: 'quickstart',
    step: 'done',
    cli: await invocation(),
    root: sandbox.root,
    config: sandbox.configPath,
    journal: join(sandbox.stateDir, 'journal.ndjson'),
    earlier,
  });
  return ExitCode.ok;
}

async function cleanup(
  stateDir: string,
  which: true | string,
  print: Sink<QuickstartEvent>,
): Promise<number> {
  let root: string;
  if (which === true) {
    const sandboxes = await findSandboxes(stateDir);
    if (sandboxes.length === 0) {
      print({ type: 'quickstart', action: 'cleanup', removed: false, root: null, stateDir });
      return ExitCode.ok;
    }
    if (sandboxes.length > 1) {
      throw new SnapkeepError(
        `${sandboxes.length} quickstart sandboxes under ${stateDir}; name the one to remove (quickstart printed its own): ${sandboxes.map((path) => `snapkeep quickstart --cleanup ${path}`).join('; ')}`,
        ExitCode.usage,
      );
    }
    root = sandboxes[0]!;
    const user = await sandboxInUseBy(root);
    if (user !== undefined)
      throw new SnapkeepError(
        `the only sandbox, ${root}, is in use by the quickstart running as pid ${user}; it is not removed`,
        ExitCode.locked,
      );
  } else {
    root = isAbsolute(which) ? which : resolve(stateDir, which);
  }
  const removed = await destroySandbox(root);
  print({ type: 'quickstart', action: 'cleanup', removed, root });
  return ExitCode.ok;
}

/** `snapkeep` when that name on PATH runs this CLI, else `node <this script>`. */
async function invocation(): Promise<string> {
  const script = process.argv[1];
  if (script === undefined) return 'snapkeep';
  const onPath = await findOnPath('snapkeep');
  try {
    if (onPath !== undefined && (await realpath(onPath)) === (await realpath(script))) return 'snapkeep';
  } catch {
    // fall through: name the script
  }
  return `node ${resolve(script)}`;
}
