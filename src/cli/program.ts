// The command tree. Flags are parsed here; each action lazily imports its command module and
// returns an exit code. Errors become messages and the documented exit codes (errors.ts).
import { Command, CommanderError, Option } from 'commander';
import {
  ExitCode,
  SnapkeepError,
  UsageError,
  describeSystemError,
  exitCodeHelp,
  isSystemError,
} from '../errors.js';
import { maskSecrets, terminateAllChildren } from '../exec/command.js';
import { applyGlobalOptions } from './global-options.js';
import { parseDurationFlag, parseLockWait } from '../state/lock.js';
import { configureRuns, interruptRuns } from '../state/run-lifecycle.js';
import { registerScheduleCommands } from './schedule-command.js';
import { registerMetricsCommand } from './metrics-command.js';
import { registerNotifyCommands } from './notify-command.js';

export interface GlobalOptions {
  readonly config?: string;
  readonly json: boolean;
}

type Action = () => Promise<number>;

const configOption = (): Option =>
  new Option(
    '-c, --config <file>',
    'configuration file (default: $SNAPKEEP_CONFIG, else /etc/snapkeep/snapkeep.yaml)',
  );
const jsonOption = (): Option => new Option('--json', 'print NDJSON events on stdout (one object per line)');
const dryRunOption = (): Option => new Option('-n, --dry-run', 'print the plan and change nothing');
/** For the commands that run through the run lifecycle (they take the lock). */
const lockWaitOption = (): Option =>
  new Option(
    '--lock-wait <duration>',
    'when another run holds the lock, wait for it up to this long (e.g. 90s, 30m, 2h) instead of exiting 11 at once (for scheduled jobs)',
  );

export async function runCli(argv: readonly string[], version: string): Promise<number> {
  let pending: Action | undefined;
  const program = new Command('snapkeep')
    .description(
      'btrfs snapshots sent incrementally to other disks and SSH hosts with btrbk-compatible retention, and application data (PostgreSQL, folders) in restic, local and offsite; plan-then-apply, a journal of every action.',
    )
    .version(version, '-V, --version')
    // Global flags: btrbk's users type `snapkeep -c FILE run`; cron wants only errors.
    .addOption(configOption())
    .addOption(new Option('-q, --quiet', 'print only warnings and errors (for cron); --json events stay'))
    .addHelpText(
      'after',
      `\n${exitCodeHelp}\n\nStart with: snapkeep quickstart   (a sandbox on loop devices; no real data touched)`,
    )
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (text) => process.stderr.write(text) });

  const defer = (action: Action): void => {
    pending = action;
  };
  // --lock-wait of whichever command runs; parsed with the command (a bad value is exit 2).
  let lockWait: string | undefined;
  program.hook('preAction', (_program, command) => {
    lockWait = command.opts<{ lockWait?: string }>().lockWait;
    applyGlobalOptions(program, command);
  });
  // Hidden: shell completion and the man page, generated from this command tree when asked (so
  // commands added anywhere below are in them; scripts/install.sh writes them out).
  program
    .command('completion', { hidden: true })
    .description('print the shell completion script')
    .argument('<shell>', 'bash | zsh | fish')
    .action((shell: string) => {
      defer(async () => {
        const { completionScript } = await import('./completion.js');
        process.stdout.write(completionScript(program, shell));
        return ExitCode.ok;
      });
    });
  program
    .command('man', { hidden: true })
    .description('print the man page snapkeep(1) (roff)')
    .action(() => {
      defer(async () => {
        const { manPage } = await import('./man-page.js');
        process.stdout.write(manPage(program, version));
        return ExitCode.ok;
      });
    });

  // run / snapshot / resume / prune / clean share the engine and its plan → apply flow.
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
            const { runEngineCommand } = await import('./engine-command.js');
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

  program
    .command('list')
    .description("list snapshots, target copies and how they relate, and the backup sets' restore points")
    .addOption(configOption())
    .addOption(jsonOption())
    .addOption(
      new Option(
        '--what <kind>',
        'what to list (also as the first argument, as btrbk spells it: list latest)',
      )
        .choices(['all', 'snapshots', 'backups', 'latest', 'sets'])
        .default('all'),
    )
    .argument('[names...]', 'limit to these subvolumes or backup sets (first: a kind, e.g. latest)')
    .action((subvolumes: string[], options: { config?: string; json?: boolean; what: string }) => {
      defer(async () => {
        const { runList } = await import('./list-command.js');
        return runList({
          config: options.config,
          json: options.json ?? false,
          what: options.what,
          only: subvolumes,
        });
      });
    });

  program
    .command('diff')
    .description(
      'what changed between two local snapshots of a subvolume (A added, D deleted, M modified, R renamed, a mode/owner/xattrs), from the metadata of the incremental send stream between them',
    )
    .argument('<subvolume>', 'a subvolume from the config')
    .argument('[from]', 'the older snapshot (default: the one before <to>)')
    .argument('[to]', 'the newer snapshot (default: latest)')
    .addOption(configOption())
    .addOption(jsonOption())
    .action(
      (
        subvolume: string,
        from: string | undefined,
        to: string | undefined,
        options: { config?: string; json?: boolean },
      ) => {
        defer(async () => {
          const { runDiff } = await import('./diff-command.js');
          return runDiff({
            config: options.config,
            json: options.json ?? false,
            subvolume,
            ...(from !== undefined ? { from } : {}),
            ...(to !== undefined ? { to } : {}),
          });
        });
      },
    );

  program
    .command('status')
    .description(
      "every job's last success, last attempt, age and pending sync, from the journal (exit 3: failing or stale)",
    )
    .addOption(configOption())
    .addOption(jsonOption())
    .action((options: { config?: string; json?: boolean }) => {
      defer(async () => {
        const { runStatus } = await import('./status-command.js');
        return runStatus({ config: options.config, json: options.json ?? false });
      });
    });

  program
    .command('check')
    .description('monitoring-plugin check of every job (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN)')
    .argument('[job...]', 'subvolumes, backup sets or subvolume/target (default: all)')
    .addOption(configOption())
    .option('--max-age <duration>', 'stale after this long without a success, for every job (26h, 2d)')
    // A monitoring plugin's bad invocation is UNKNOWN (3), with the one summary line, not 2 (CRITICAL).
    .exitOverride((error) => {
      if (error.exitCode === 0) throw error;
      process.stdout.write(`SNAPKEEP UNKNOWN - ${error.message.replace(/^error: /, '')}\n`);
      throw new CommanderError(ExitCode.partial, 'snapkeep.check', error.message);
    })
    .action((jobs: string[], options: { config?: string; maxAge?: string }) => {
      defer(async () => (await import('./check-command.js')).runCheck({ ...options, jobs }));
    });

  const config = program.command('config').description('create, check and show the configuration');
  config
    .command('init')
    .description('write a commented sample configuration (to stdout, or to --output)')
    .option('-o, --output <file>', 'write to this file (refuses to overwrite)')
    .action((options: { output?: string }) => {
      defer(async () => {
        const { runConfigInit } = await import('./config-command.js');
        return runConfigInit(options);
      });
    });
  config
    .command('validate')
    .description('check the configuration; errors name file:line and the key')
    .addOption(configOption())
    .addOption(jsonOption())
    .action((options: { config?: string; json?: boolean }) => {
      defer(async () => {
        const { runConfigValidate } = await import('./config-command.js');
        return runConfigValidate({ config: options.config, json: options.json ?? false });
      });
    });
  config
    .command('show')
    .description('print the resolved configuration with every default made visible')
    .addOption(configOption())
    .addOption(jsonOption())
    .action((options: { config?: string; json?: boolean }) => {
      defer(async () => {
        const { runConfigShow } = await import('./config-command.js');
        return runConfigShow({ config: options.config, json: options.json ?? false });
      });
    });

  const retention = program.command('retention').description('explore retention policies');
  retention
    .command('preview')
    .description(
      'read snapshot names (one per line) on stdin and show which a policy keeps or deletes, and why;\ndecisions equal btrbk 0.32.5 (timestamps are local time: set TZ)',
    )
    .requiredOption('--preserve <matrix>', 'preserve matrix, e.g. "24h 7d 4w 6m 2y" (or "no")')
    .option('--preserve-min <min>', 'all | latest | no | N[hdwmy]', 'no')
    .option('--day-of-week <day>', 'weeks start on this day', 'sunday')
    .option('--hour-of-day <hour>', 'days start at this hour (0-23)', '0')
    .option('--now <time>', 'reference time YYYY-MM-DDThh:mm:ss (local time; default: now)')
    .addOption(jsonOption())
    .action(
      (options: {
        preserve: string;
        preserveMin: string;
        dayOfWeek: string;
        hourOfDay: string;
        now?: string;
        json?: boolean;
      }) => {
        defer(async () => {
          const { runRetentionPreview } = await import('./retention-command.js');
          return runRetentionPreview({ ...options, json: options.json ?? false });
        });
      },
    );

  const remote = program
    .command('remote')
    .description('prepare an ssh backup host (filter, authorized_keys, sudoers) and verify it');
  remote
    .command('filter')
    .description(
      "the target-side command filter (POSIX sh): the forced command of snapkeep's key on a backup host.\nRun as: <script> --root DIR [--root DIR …] [--no-delete] [--no-send] [--no-snapshot] [--no-sudo] [--log FILE],\nwith the request in SSH_ORIGINAL_COMMAND; a rejected request exits 126, says why on stderr and runs nothing.",
    )
    .requiredOption('--print', 'write the script to stdout')
    .action(() => {
      defer(async () => {
        const { runRemoteFilterPrint } = await import('./remote-command.js');
        return runRemoteFilterPrint();
      });
    });
  remote
    .command('setup')
    .description(
      'print (default) or install (--install, on the backup host as root) what the host needs:\nthe filter, the authorized_keys line (command=…,restrict) and a sudoers rule naming exact commands',
    )
    .option(
      '--root <dir>',
      'directory the key may touch (repeatable)',
      (value: string, all: string[]) => [...all, value],
      [] as string[],
    )
    .option('--user <name>', 'the account snapkeep logs in as on the host', 'snapkeep')
    .option('--public-key <file>', "the client key's .pub file")
    .option(
      '--no-delete',
      'append-only: the key cannot delete (retention on the host is then up to its admin)',
    )
    .option('--no-send', 'push-only: the key cannot read snapshots back (no restores from this host)')
    .option('--no-snapshot', 'the key cannot create snapshots (needed only where a backup server pulls from)')
    .option('--log <file>', 'filter log file on the host (default: syslog)')
    .option(
      '--filter-path <path>',
      "where the filter is installed on the host (default: where the key's current line has it, else /usr/local/bin/snapkeep-target-filter)",
    )
    .option(
      '--sshd-config <file>',
      "with --install: the sshd configuration whose host keys' fingerprints are printed",
      '/etc/ssh/sshd_config',
    )
    .option('--install', 'install on THIS host (run it on the backup host, as root)')
    .option('-y, --yes', 'do not ask before installing')
    .addOption(jsonOption())
    .action(
      (options: {
        root: string[];
        user: string;
        publicKey?: string;
        delete: boolean;
        send: boolean;
        snapshot: boolean;
        log?: string;
        filterPath?: string;
        sshdConfig: string;
        install?: boolean;
        yes?: boolean;
        json?: boolean;
      }) => {
        defer(async () => {
          const { runRemoteSetup } = await import('./remote-command.js');
          return runRemoteSetup({
            roots: options.root,
            user: options.user,
            publicKey: options.publicKey,
            noDelete: !options.delete,
            noSend: !options.send,
            noSnapshot: !options.snapshot,
            log: options.log,
            filterPath: options.filterPath,
            sshdConfig: options.sshdConfig,
            install: options.install ?? false,
            yes: options.yes ?? false,
            json: options.json ?? false,
          });
        });
      },
    );
  remote
    .command('verify')
    .summary('check that allowed requests work on an ssh target and forbidden ones are refused')
    .description(
      'connect to an ssh target and check that allowed requests work and forbidden ones are refused',
    )
    .argument('<target>', 'target name from the configuration')
    .option(
      '--host-key <fingerprint>',
      "SHA256:… of the host's key, as `remote setup --install` printed it on the host: an unknown host key is recorded in ssh.known_hosts only if it has this fingerprint",
    )
    .addOption(configOption())
    .addOption(jsonOption())
    .action((target: string, options: { config?: string; json?: boolean; hostKey?: string }) => {
      defer(async () => {
        const { runRemoteVerify } = await import('./remote-command.js');
        return runRemoteVerify({
          target,
          config: options.config,
          json: options.json ?? false,
          hostKey: options.hostKey,
        });
      });
    });

  program
    .command('backup')
    .summary('back up application data (directories, PostgreSQL) into restic, then offsite')
    .description(
      'back up application data into restic: every backup set (or the named ones) — directories and\nPostgreSQL dumps streamed into restic with no temporary file — as one run, restorable as one\npoint, then copied to the offsite repositories and compared. A dump that fails leaves no snapshot\nand the run is no restore point. Repositories are created when missing.',
    )
    .argument('[sets...]', 'backup sets from the config (default: all)')
    .addOption(configOption())
    .addOption(jsonOption())
    .addOption(dryRunOption())
    .addOption(lockWaitOption())
    .action((sets: string[], options: { config?: string; json?: boolean; dryRun?: boolean }) => {
      defer(async () => {
        const { runBackup } = await import('./backup-command.js');
        return runBackup({
          config: options.config,
          json: options.json ?? false,
          dryRun: options.dryRun ?? false,
          sets,
        });
      });
    });

  program
    .command('restore')
    .summary('list restore points, or bring a snapshot or a backup-set run back')
    .description(
      'without a snapshot: list what can be restored (local snapshots and the copies on every target,\nwith dates and sizes). With one (a name or "latest"): bring it back as a writable subvolume at\n--to (default: the subvolume\'s own path). A copy on a target is received into the snapshot\ndirectory first, incrementally when a snapshot here has a copy there (--full: every byte from\nthe target), and stays as a snapshot so the next run continues incrementally. With --from the\ndata is read from there even when the snapshot is here too. --to must be on btrfs; on another\nbtrfs filesystem the snapshot is received there. An existing --to is never overwritten: --force moves\nit aside to <to>.before-restore.<time>.',
    )
    .argument('[name]', 'a subvolume or backup set from the config (default: all, for listing)')
    .argument('[snapshot]', 'snapshot name, backup run id, or "latest"')
    .option(
      '--from <where>',
      '"snapshots" (the local snapshot directory) or a target name: the data is read from there, also when a copy is here; default: the snapshot directory if it has it, else the first target that does',
    )
    .option(
      '--to <path>',
      "where the writable subvolume goes (default: the subvolume's path); with --path, where the copy goes (default: the working directory)",
    )
    .option(
      '--path <path>',
      'copy only this file or directory (relative to the subvolume, e.g. Documents/report.odt) out of the snapshot to --to, attributes kept; an existing one is never overwritten (--force moves it aside)',
    )
    .option('--read-only', 'only bring the read-only snapshot back into the snapshot directory')
    .option(
      '--full',
      'receive without a parent: every byte is read from the source (a restore drill); without it, a receive is incremental against a snapshot here when one pairs with a copy there',
    )
    .option(
      '--force',
      'if --to exists, move it aside (never deleted) and restore; backup sets: restore over an existing database',
    )
    .option(
      '--database <old=new>',
      'backup sets: restore database OLD as NEW (repeatable; default: its own name, which must not exist unless --force)',
      (value: string, all: string[]) => [...all, value],
      [] as string[],
    )
    .option('-y, --yes', 'backup sets: overwrite files at their original paths without asking')
    .addOption(configOption())
    .addOption(jsonOption())
    .addOption(dryRunOption())
    .addOption(lockWaitOption())
    .action(
      (
        subvolume: string | undefined,
        snapshot: string | undefined,
        options: {
          from?: string;
          to?: string;
          path?: string;
          readOnly?: boolean;
          full?: boolean;
          force?: boolean;
          database: string[];
          yes?: boolean;
          config?: string;
          json?: boolean;
          dryRun?: boolean;
        },
      ) => {
        defer(async () => {
          const { runRestore } = await import('./restore-command.js');
          return runRestore({
            config: options.config,
            json: options.json ?? false,
            dryRun: options.dryRun ?? false,
            subvolume,
            snapshot,
            from: options.from,
            to: options.to,
            ...(options.path !== undefined ? { path: options.path } : {}),
            readOnly: options.readOnly ?? false,
            full: options.full ?? false,
            force: options.force ?? false,
            databases: options.database,
            yes: options.yes ?? false,
          });
        });
      },
    );

  program
    .command('pull')
    .summary("fetch another device's latest snapshot from a shared target")
    .description(
      "fetch another device's snapshot (default: the newest) from a shared target onto this machine:\nthe new-machine and second-device case. Pulled snapshots stay in --into (the newest is the next\npull's incremental parent); --checkout also makes a writable subvolume from it.",
    )
    .argument(
      '<from>',
      'a target name from the config, an ssh://user@host[:port]/dir URL, or a local directory',
    )
    .argument('<name>', "the snapshot basename there (the other device's subvolume, e.g. home)")
    .requiredOption(
      '--into <dir>',
      'local btrfs directory that keeps the pulled snapshots (created if missing)',
    )
    .option('--snapshot <name>', 'a snapshot name instead of the newest')
    .option('--checkout <path>', 'also create a writable subvolume at <path> from the pulled snapshot')
    .option('--force', 'if --checkout exists, move it aside (never deleted) first')
    .option(
      '--keep <n>',
      'pulled snapshots of <name> to keep in --into (at least 1)',
      (value: string) => Number(value),
      3,
    )
    .addOption(configOption())
    .addOption(jsonOption())
    .addOption(dryRunOption())
    .addOption(lockWaitOption())
    .action(
      (
        from: string,
        name: string,
        options: {
          into: string;
          snapshot?: string;
          checkout?: string;
          force?: boolean;
          keep: number;
          config?: string;
          json?: boolean;
          dryRun?: boolean;
        },
      ) => {
        defer(async () => {
          const { runPull } = await import('./pull-command.js');
          return runPull({
            config: options.config,
            json: options.json ?? false,
            dryRun: options.dryRun ?? false,
            from,
            name,
            snapshot: options.snapshot,
            into: options.into,
            checkout: options.checkout,
            keep: options.keep,
            force: options.force ?? false,
          });
        });
      },
    );

  program
    .command('verify')
    .summary('restic check, reading a rotating part of the data each run; --drill: restore drills')
    .description(
      "restic check of every repository the backup sets use, reading a different 1/N of the data each\nrun (the part is remembered in the state directory), so all of it is read every N runs.\n--drill also restores: each set's latest run, and one btrfs target copy per run (every\nsubvolume × target in turn), compared file by file with the snapshot it was sent from",
    )
    .argument('[names...]', 'backup sets and subvolumes from the config (default: all)')
    .option(
      '--parts <n>',
      'read 1/N of the pack data per run (1 = everything)',
      (value: string) => Number(value),
      12,
    )
    .option(
      '--drill',
      'also restore the latest run of each set into a scratch directory and scratch databases and\ncompare every table (rows and checksums) with what was dumped; and receive one btrfs target copy\n(the subvolume × target drilled longest ago) into a scratch subvolume and compare every file\nwith its local snapshot; scratch data is removed after',
    )
    .addOption(dryRunOption())
    .addOption(configOption())
    .addOption(jsonOption())
    .addOption(lockWaitOption())
    .action(
      (
        sets: string[],
        options: { parts: number; drill?: boolean; dryRun?: boolean; config?: string; json?: boolean },
      ) => {
        defer(async () => {
          const { runVerify } = await import('./verify-command.js');
          return runVerify({
            config: options.config,
            json: options.json ?? false,
            sets,
            parts: options.parts,
            drill: options.drill ?? false,
            dryRun: options.dryRun ?? false,
          });
        });
      },
    );

  const repo = program
    .command('repo')
    .description('restic repositories of the backup sets: create, check permissions');
  repo
    .command('init')
    .description(
      "create the missing repositories (offsite ones with their set's chunker parameters, so copies dedup)",
    )
    .argument('[names...]', 'repositories from the config (default: every one a backup set uses)')
    .addOption(configOption())
    .addOption(jsonOption())
    .addOption(dryRunOption())
    .action((names: string[], options: { config?: string; json?: boolean; dryRun?: boolean }) => {
      defer(async () => {
        const { runRepoInit } = await import('./repo-command.js');
        return runRepoInit({
          config: options.config,
          json: options.json ?? false,
          dryRun: options.dryRun ?? false,
          names,
        });
      });
    });
  repo
    .command('check-permissions')
    .description(
      'prove with a canary snapshot what the configured identity can do in a repository: write and\nread (needed) and delete (must be refused for an append-only offsite). Exit 3 when it can delete.\nThe canary stays in the repository.',
    )
    .argument('<name>', 'repository from the config')
    .addOption(configOption())
    .addOption(jsonOption())
    .action((name: string, options: { config?: string; json?: boolean }) => {
      defer(async () => {
        const { runCheckPermissions } = await import('./repo-command.js');
        return runCheckPermissions({ config: options.config, json: options.json ?? false, name });
      });
    });

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
            const { runInfra } = await import('./infra-command.js');
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
          const { runDoctor } = await import('./doctor-command.js');
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
        const { runQuickstart } = await import('./quickstart-command.js');
        return runQuickstart({
          stateDir: options.stateDir,
          cleanup: options.cleanup ?? false,
          json: options.json ?? false,
        });
      });
    });

  registerScheduleCommands(program, { defer, configOption, jsonOption, dryRunOption });
  registerMetricsCommand(program, { defer, configOption, version });
  registerNotifyCommands(program, { defer, configOption, jsonOption, dryRunOption });

  try {
    await program.parseAsync([...argv]);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version exit 0 through here; everything else is a usage error.
      if (error.code === 'snapkeep.check') return error.exitCode;
      return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    throw error;
  }
  if (!pending) {
    program.outputHelp();
    return ExitCode.usage;
  }

  const onSignal = (signal: NodeJS.Signals): void => {
    // The run's end first (with the signal), so what its children report as they die is not it.
    const observed = interruptRuns(signal);
    terminateAllChildren();
    process.stderr.write(`snapkeep: interrupted (${signal})\n`);
    // Close SSH master connections (they would otherwise linger for ControlPersist), briefly.
    const exit = (): never => process.exit(ExitCode.interrupted);
    setTimeout(exit, 1000).unref();
    const closed = import('../remote/ssh-host.js').then(({ closeAllSshHosts }) => closeAllSshHosts());
    void Promise.allSettled([observed, closed]).finally(exit);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    configureRuns({ lockWaitSeconds: lockWait === undefined ? undefined : parseLockWait(lockWait) });
    return await pending();
  } catch (error) {
    if (error instanceof SnapkeepError) {
      process.stderr.write(`snapkeep: ${maskSecrets(error.message)}\n`);
      return error.exitCode;
    }
    // The system refused a file operation: the path, the cause and the fix, not a stack trace.
    if (isSystemError(error)) {
      process.stderr.write(`snapkeep: ${maskSecrets(describeSystemError(error))}\n`);
      return ExitCode.fatal;
    }
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    process.stderr.write(`snapkeep: unexpected error: ${maskSecrets(message)}\n`);
    return ExitCode.fatal;
  }
}
