// `snapkeep completion <shell>` and `snapkeep man` (hidden): generated from the program's command
// tree when asked, so commands added in any module are in them; scripts/install.sh writes them out.
import { ExitCode } from '../../errors.js';
import type { CommandRegistration } from './registration.js';

export function registerDocumentationCommands({ program, version, defer }: CommandRegistration): void {
  program
    .command('completion', { hidden: true })
    .description('print the shell completion script')
    .argument('<shell>', 'bash | zsh | fish')
    .action((shell: string) => {
      defer(async () => {
        const { completionScript } = await import('../completion.js');
        process.stdout.write(completionScript(program, shell));
        return ExitCode.ok;
      });
    });
  program
    .command('man', { hidden: true })
    .description('print the man page snapkeep(1) (roff)')
    .action(() => {
      defer(async () => {
        const { manPage } = await import('../man-page.js');
        process.stdout.write(manPage(program, version));
        return ExitCode.ok;
      });
    });
}
