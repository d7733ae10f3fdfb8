// `snapkeep config init | import-btrbk | validate | show`.
import type { CommandRegistration } from './registration.js';

export function registerConfigCommands({
  program,
  defer,
  configOption,
  jsonOption,
}: CommandRegistration): void {
  const config = program.command('config').description('create, check and show the configuration');
  config
    .command('init')
    .description('write a commented sample configuration (to stdout, or to --output)')
    .option('-o, --output <file>', 'write to this file (refuses to overwrite)')
    .action((options: { output?: string }) => {
      defer(async () => {
        const { runConfigInit } = await import('../config-command.js');
        return runConfigInit(options);
      });
    });
  config
    .command('import-btrbk')
    .description(
      "turn a btrbk.conf into a commented snapkeep configuration that takes over btrbk's snapshots and copies; what cannot be translated is listed",
    )
    .argument('<file>', 'the btrbk configuration, e.g. /etc/btrbk/btrbk.conf')
    .option('-o, --output <file>', 'write to this file (refuses to overwrite) instead of stdout')
    .addOption(jsonOption())
    .action((file: string, options: { output?: string; json?: boolean }) => {
      defer(async () => {
        const { runConfigImportBtrbk } = await import('../config-command.js');
        return runConfigImportBtrbk({ file, output: options.output, json: options.json ?? false });
      });
    });
  config
    .command('validate')
    .description('check the configuration; errors name file:line and the key')
    .addOption(configOption())
    .addOption(jsonOption())
    .action((options: { config?: string; json?: boolean }) => {
      defer(async () => {
        const { runConfigValidate } = await import('../config-command.js');
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
        const { runConfigShow } = await import('../config-command.js');
        return runConfigShow({ config: options.config, json: options.json ?? false });
      });
    });
}
