// `snapkeep run | snapshot | resume | prune | clean`: one engine and its plan → apply flow, so
// one set of flags (snapshot adds --deadline).
import { Option } from 'commander';
import { parseDurationFlag } from '../../state/lock.js';
import type { CommandRegistration } from './registration.js';

export function registerEngineCommands(registration: CommandRegistration): void {
  const { program, defer, configOption, jsonOption, dryRunOption, lockWaitOption } = registration;
  const engineCommand = (name: string, description: string) =>
    program
      .command(name)
      .description(description)
      .addOption(configOption())
      .addOption(jsonOption())
      .addOption(dryRunOption())
      .addOption(lockWaitOption())
      .argument('[subvolumes...]', 'limit to these subvolumes (names from the config)')
      .action(
        (
          subvolumes: string[],
          options: { config?: string; json?: boolean; dryRun?: boolean; deadline?: string },
        ) => {
          defer(async () => {
            // A bad value is a usage error (2) before anything starts.
            const deadline =
              options.deadline === undefined
                ? undefined
                : {
                    seconds: parseDurationFlag('--deadline', options.deadline, 3600, '1h'),
                    text: options.deadline,
                  };
            const { runEngineCommand } = await import('../engine-command.js');
            return runEngineCommand(name as 'run', {
              config: options.config,
              json: options.json ?? false,
              dryRun: options.dryRun ?? false,
              only: subvolumes,
              ...(deadline ? { deadline } : {}),
            });
          });
        },
      );

  engineCommand('run', 'snapshot, send what is missing to every target, then prune (the main job)');
  engineCommand('snapshot', 'create snapshots only').addOption(
    new Option(
      '--deadline <duration>',
      'return within this long of starting (e.g. 10s; for the pre-sleep job): targets are not touched, the lock is waited for up to half of it and then the snapshots are taken without it; snapshots not taken by then are reported and the exit code is 3',
    ),
  );
  engineCommand('resume', 'send snapshots that are missing on targets (no new snapshot, no pruning)');
  engineCommand('prune', 'delete snapshots and target copies that retention no longer keeps');
  engineCommand('clean', 'delete garbage left by interrupted transfers on targets');
}
