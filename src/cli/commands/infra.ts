// `snapkeep infra init | plan | apply | destroy | output`: the AWS target as code.
import { Option } from 'commander';
import { UsageError } from '../../errors.js';
import type { CommandRegistration } from './registration.js';

export function registerInfraCommands(registration: CommandRegistration): void {
  const { program, defer, configOption, jsonOption, dryRunOption, lockWaitOption } = registration;
  const infra = program
    .command('infra')
    .description(
      "the AWS backup target as code (infra/aws, through OpenTofu or Terraform): an EC2 instance with an encrypted EBS volume running the target filter, optionally an Object Lock S3 bucket for restic. Settings come from the config's infra.aws; state lives in <state_dir>/infra/aws (back it up).",
    );
  const infraAction = (action: 'init' | 'plan' | 'apply' | 'destroy' | 'output', description: string) =>
    infra
      .command(action)
      .description(description)
      .addOption(configOption())
      .addOption(jsonOption())
      .action(
        (options: {
          config?: string;
          json?: boolean;
          yes?: boolean;
          dryRun?: boolean;
          confirmVolume?: string;
          wait?: string;
        }) => {
          defer(async () => {
            const { runInfra } = await import('../infra-command.js');
            const waitSeconds = Number(options.wait ?? '600');
            if (!Number.isInteger(waitSeconds) || waitSeconds < 0)
              throw new UsageError(`--wait ${options.wait ?? ''}: expected a whole number of seconds`);
            return runInfra(action, {
              config: options.config,
              json: options.json ?? false,
              yes: options.yes ?? false,
              dryRun: options.dryRun ?? false,
              confirmVolume: options.confirmVolume,
              waitSeconds,
            });
          });
        },
      );
  infraAction(
    'init',
    'check prerequisites, copy the module, write its variables, run init (changes nothing in AWS)',
  );
  infraAction('plan', 'show what apply would create or change, and the monthly cost');
  infraAction(
    'apply',
    'plan, show the cost, ask, apply; wait for SSH, record the host key, run the smoke tests, write the target into the config',
  )
    .addOption(new Option('-y, --yes', 'apply without asking (automation: read infra plan first)'))
    .addOption(dryRunOption())
    .addOption(lockWaitOption())
    .addOption(
      new Option('--wait <seconds>', 'how long to wait for the instance to answer over SSH').default('600'),
    );
  infraAction('destroy', 'delete the instance and the volume WITH ITS BACKUPS (asks for the volume name)')
    .addOption(new Option('--confirm-volume <name>', "the volume's name, typed ahead (for automation)"))
    .addOption(dryRunOption())
    .addOption(lockWaitOption());
  infraAction('output', 'print what apply made: host, user, target URL, region, instance, volume, bucket');
}
