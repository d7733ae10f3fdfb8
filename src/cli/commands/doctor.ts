// `snapkeep doctor [what]`.
import type { CommandRegistration } from './registration.js';

export function registerDoctorCommand({
  program,
  defer,
  configOption,
  jsonOption,
}: CommandRegistration): void {
  program
    .command('doctor')
    .summary('check prerequisites, ssh targets, volumes, AWS and the journal; each FAIL with its fix')
    .description(
      'diagnose: prereqs (tools, config, state directory, root, subvolumes, clock), ssh (port, keys, authentication, the target filter, sudo, clock skew), volume (mounted, btrfs, directory, space, interrupted receives), aws (credentials, instance and volume state through the AWS SDK; inputs from the outputs of snapkeep infra or the flags), logs (last run, recent failures, stale backups). Every check prints OK, WARN, FAIL or SKIP; a FAIL says the likely cause and the fix. Exit 0 when nothing fails (WARN included), 3 when a check fails.',
    )
    .argument('[what]', 'prereqs | ssh | volume | sources | aws | logs | notify | all', 'all')
    .option(
      '--target <name>',
      'only this target (repeatable)',
      (value: string, all: string[]) => [...all, value],
      [] as string[],
    )
    .option(
      '--stale-hours <hours>',
      "a job with no successful backup for longer is stale (default: its schedule's interval + random delay + 2 h; 26 without a schedule)",
      (value: string) => Number(value),
    )
    .option('--outputs <file>', 'AWS outputs of snapkeep infra (default: <state_dir>/infra/aws/outputs.json)')
    .option('--region <region>', 'AWS region (default: the outputs, else AWS_REGION)')
    .option('--instance-id <id>', 'EC2 instance of the target (default: the outputs)')
    .option('--volume-id <id>', 'EBS backup volume (default: the outputs)')
    .option(
      '--aws-endpoint <url>',
      'EC2 endpoint override for tests and emulators (or SNAPKEEP_AWS_ENDPOINT)',
    )
    .option(
      '--mount-point <dir>',
      "where the backup volume should be mounted on the target (default: the outputs' mount_point for the AWS host)",
    )
    .addOption(configOption())
    .addOption(jsonOption())
    .action(
      (
        what: string,
        options: {
          target: string[];
          staleHours?: number;
          outputs?: string;
          region?: string;
          instanceId?: string;
          volumeId?: string;
          awsEndpoint?: string;
          mountPoint?: string;
          config?: string;
          json?: boolean;
        },
      ) => {
        defer(async () => {
          const { runDoctor } = await import('../doctor-command.js');
          return runDoctor({
            config: options.config,
            json: options.json ?? false,
            what,
            targets: options.target,
            staleHours: options.staleHours,
            outputs: options.outputs,
            region: options.region,
            instanceId: options.instanceId,
            volumeId: options.volumeId,
            awsEndpoint: options.awsEndpoint,
            mountPoint: options.mountPoint,
          });
        });
      },
    );
}
