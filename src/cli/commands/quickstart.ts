// `snapkeep quickstart`: the sandbox.
import type { CommandRegistration } from './registration.js';

export function registerQuickstartCommand({ program, defer, jsonOption }: CommandRegistration): void {
  program
    .command('quickstart')
    .description(
      'build a sandbox of its own (loop-mounted btrfs images in a new directory under the state directory) and run the whole cycle: snapshot, full send, change, incremental send, prune, restore a file and verify it',
    )
    .option('--state-dir <dir>', 'where the sandbox lives', '/var/lib/snapkeep')
    .option(
      '--cleanup [sandbox]',
      'unmount and remove a sandbox (the path quickstart printed; without one: the only sandbox there is)',
    )
    .addOption(jsonOption())
    .action((options: { stateDir: string; cleanup?: boolean | string; json?: boolean }) => {
      defer(async () => {
        const { runQuickstart } = await import('../quickstart-command.js');
        return runQuickstart({
          stateDir: options.stateDir,
          cleanup: options.cleanup ?? false,
          json: options.json ?? false,
        });
      });
    });
}
