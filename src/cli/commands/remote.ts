// `snapkeep remote filter | setup | verify`: preparing an ssh backup host and proving it.
import type { CommandRegistration } from './registration.js';

export function registerRemoteCommands({
  program,
  defer,
  configOption,
  jsonOption,
  dryRunOption,
}: CommandRegistration): void {
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
        const { runRemoteFilterPrint } = await import('../remote-command.js');
        return runRemoteFilterPrint();
      });
    });
  remote
    .command('setup')
    .description(
      'print (default) or install (--install, on the backup host as root) what the host needs:\nthe filter, the authorized_keys line (command=…,restrict) and a sudoers rule naming exact commands.\nFrom the client, --watch TARGET installs on an ssh:// target a check run by cron there (POSIX sh)\nthat alerts ntfy, webhook or healthchecks channels when no new copy arrives; --unwatch TARGET removes it',
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
    .option(
      '--watch <target>',
      "from the client: install the target-side watch on an ssh:// target (cron, POSIX sh): it alerts the target's watch.notify channels when no new copy of a device arrives within the threshold",
    )
    .option(
      '--unwatch <target>',
      'from the client: remove that watch (its files and crontab line, nothing else)',
    )
    .option(
      '--watch-notify <channel>',
      "with --watch: an ntfy, webhook or healthchecks channel under notify: (repeatable; default the target's watch.notify)",
      (value: string, all: string[]) => [...all, value],
      [] as string[],
    )
    .option(
      '--watch-threshold <span>',
      'with --watch: stale after this long without a new copy (default 26h)',
    )
    .option(
      '--watch-remind <span>',
      'with --watch: alert again while it lasts, this often, or never (default 24h)',
    )
    .option(
      '--identity <file>',
      "with --watch/--unwatch: a key of the target's user that may run commands (the target's own key runs only the filter)",
    )
    .addOption(dryRunOption())
    .addOption(configOption())
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
        watch?: string;
        unwatch?: string;
        watchNotify: string[];
        watchThreshold?: string;
        watchRemind?: string;
        identity?: string;
        dryRun?: boolean;
        config?: string;
      }) => {
        defer(async () => {
          const target = options.watch ?? options.unwatch;
          if (target !== undefined) {
            const { runRemoteWatch } = await import('../remote-watch-command.js');
            return runRemoteWatch({
              config: options.config,
              target,
              remove: options.watch === undefined,
              watch: options.watch,
              unwatch: options.unwatch,
              hostOptions:
                options.root.length > 0 || options.install === true || options.publicKey !== undefined,
              notify: options.watchNotify,
              threshold: options.watchThreshold,
              remindEvery: options.watchRemind,
              identity: options.identity,
              dryRun: options.dryRun ?? false,
              json: options.json ?? false,
            });
          }
          const { runRemoteSetup } = await import('../remote-command.js');
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
        const { runRemoteVerify } = await import('../remote-command.js');
        return runRemoteVerify({
          target,
          config: options.config,
          json: options.json ?? false,
          hostKey: options.hostKey,
        });
      });
    });
}
