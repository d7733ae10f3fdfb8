// The man page and completion generators read whatever commander tree they are given: a command
// added anywhere (here: `schedule install`, hidden ones excluded) is in them, with its options.
import { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { completionScript } from '../../../src/cli/completion.js';
import { manPage, roffText } from '../../../src/cli/man-page.js';

function program(): Command {
  const root = new Command('snapkeep')
    .description('test program')
    .addOption(new Option('-q, --quiet', 'quiet'));
  root.command('run').description('the main job').option('-c, --config <file>', 'configuration file');
  const schedule = root.command('schedule').description('timers');
  schedule
    .command('install')
    .description('install the timers\n.starts with a dot on its second line')
    .addOption(new Option('--every <period>', 'how often').choices(['hourly', 'daily']));
  root.command('secret', { hidden: true }).description('not for users');
  return root;
}

describe('generated man page and completions', () => {
  it('lists every visible command with its options, and no hidden one', () => {
    const page = manPage(program(), '9.9.9');
    expect(page).toContain('.SS "snapkeep schedule install"');
    expect(page).toContain('\\fB\\-\\-every \\fR\\fI<period>\\fR');
    expect(page).toContain('(choices: "hourly", "daily")');
    expect(page).not.toContain('secret');
    for (const shell of ['bash', 'zsh', 'fish']) {
      const script = completionScript(program(), shell);
      expect(script, shell).toContain('install');
      expect(script, shell).toContain('hourly daily');
      expect(script, shell).not.toContain('secret');
    }
    expect(completionScript(program(), 'bash')).toContain(
      `'schedule install') sub=''; opts='--every -h --help -q --quiet'; valued='--every' ;;`,
    );
  });

  it('escapes what roff would read as markup', () => {
    expect(roffText('a-b \\n “quoted” → ok')).toBe('a\\-b \\en \\[u201C]quoted\\[u201D] \\[u2192] ok');
    // A line starting with a dot would be a request: joined into its paragraph, it is not one.
    expect(manPage(program(), '1.0.0')).not.toMatch(/^\.starts/m);
  });

  it('refuses an unknown shell', () => {
    expect(() => completionScript(program(), 'tcsh')).toThrow(/unknown shell "tcsh"/);
  });
});
