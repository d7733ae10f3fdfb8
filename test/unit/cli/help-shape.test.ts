// The help text's shape for every command: commander wraps each paragraph once, at the width it
// is given, so no line is longer than that width and no line is short of the next word (a
// ragged line is a hand-made break wrapped again). Mandatory options say "(required)", and the
// man page (rendered by man(1)) carries the same descriptions, word for word.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { allCommands, describeCommandTree } from '../../../src/cli/command-tree.js';
import { manPage } from '../../../src/cli/man-page.js';
import { createProgram } from '../../../src/cli/program.js';

function commands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(commands)];
}

function helpAt(command: Command, width: number): string {
  command.configureOutput({ getOutHelpWidth: () => width, getErrHelpWidth: () => width });
  return command.helpInformation();
}

const indent = (line: string): number => line.length - line.trimStart().length;

/** Where the description of an item line (`  --to <path>   text`) starts, else its indent. */
function textColumn(line: string): number {
  const item = /^( {2}\S(?:\S| (?! ))*\S? {2,})\S/.exec(line);
  return item ? item[1]!.length : indent(line);
}

/** Pairs of lines where the second continues the first's paragraph. */
function continuations(help: string): [string, string][] {
  const lines = help.split('\n');
  const pairs: [string, string][] = [];
  for (let index = 0; index + 1 < lines.length; index++) {
    const [line, next] = [lines[index]!, lines[index + 1]!];
    if (line.trim() === '' || next.trim() === '' || /^\S.*:$/.test(line) || line.startsWith('Usage:'))
      continue;
    const continues =
      indent(next) === 0 ? indent(line) === 0 : indent(next) > 2 && indent(next) === textColumn(line);
    if (continues) pairs.push([line, next]);
  }
  return pairs;
}

const program = createProgram('0.0.0', () => undefined);
const all = commands(program);

describe('help text shape', () => {
  it.each([60, 80, 100, 132])(
    'at %i columns: no line over the width, none short of its next word',
    (width) => {
      for (const command of all) {
        const help = helpAt(command, width);
        const name = `snapkeep ${command.name()}`;
        // Over the width only when one word is longer than its column (a path cannot be broken).
        for (const line of help.split('\n'))
          if (line.trim().includes(' ')) expect(line.length, `${name}: ${line}`).toBeLessThanOrEqual(width);
        for (const [line, next] of continuations(help)) {
          const word = next.trimStart().split(' ')[0]!;
          expect(line.length + 1 + word.length, `${name}: ragged line\n${line}\n${next}`).toBeGreaterThan(
            width,
          );
        }
      }
    },
  );

  it('marks mandatory options as required', () => {
    const mandatory = all.flatMap((command) =>
      command.options.filter((option) => option.mandatory).map((option) => ({ command, option })),
    );
    expect(mandatory.length).toBeGreaterThan(0);
    for (const { command, option } of mandatory)
      expect(helpAt(command, 200), option.flags).toMatch(new RegExp(`${option.long!}.*\\(required\\)`));
  });
});

describe('man snapkeep', () => {
  const directory = mkdtempSync(join(tmpdir(), 'snapkeep-man-'));
  afterAll(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  it('renders (man -l) every command description and option description --help shows', () => {
    const page = join(directory, 'snapkeep.1');
    writeFileSync(page, manPage(program, '0.0.0'));
    const rendered = execFileSync('man', ['-l', page], {
      encoding: 'utf8',
      // No hyphenation or justification to undo: one long line per paragraph.
      env: { ...process.env, MANWIDTH: '2000', LC_ALL: 'C.UTF-8', MANOPT: '', MAN_KEEP_FORMATTING: '' },
    });
    const words = (text: string): string => text.replace(/\s+/g, ' ').trim();
    const manText = words(rendered);
    const root = describeCommandTree(program);
    for (const node of allCommands(root)) {
      if (node.path.at(-1) === 'help') continue;
      expect(manText, `${node.usage}: description`).toContain(words(node.description));
      for (const option of node.options)
        expect(manText, `${node.usage}: ${option.term}`).toContain(words(option.description));
    }
  });
});
