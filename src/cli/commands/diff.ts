// `snapkeep diff <subvolume> [from] [to]`.
import type { CommandRegistration } from './registration.js';

export function registerDiffCommand({ program, defer, configOption, jsonOption }: CommandRegistration): void {
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
          const { runDiff } = await import('../diff-command.js');
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
}
