// DESIGN.md "Output": one typed event rendered two ways (src/cli/printer.ts). A command module
// that writes output.text() and output.event() side by side says the same thing twice, and the
// two drift. This ratchet keeps new modules out of that habit: only the modules listed still do
// it (to be converted), and a listed module that no longer does must leave the list.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const cliRoot = new URL('../../../src/cli/', import.meta.url).pathname;

/** printer.ts is the one place that turns an event into both; the others are still to convert. */
const stillSideBySide = new Set(['printer.ts']);

async function modulesWritingBoth(): Promise<string[]> {
  const found: string[] = [];
  for (const directory of ['', 'commands/']) {
    const names = (await readdir(join(cliRoot, directory))).filter((name) => /\.c?ts$/.test(name));
    for (const name of names) {
      const text = await readFile(join(cliRoot, directory, name), 'utf8');
      if (/\.text\(/.test(text) && /\.event\(/.test(text)) found.push(`${directory}${name}`);
    }
  }
  return found.sort();
}

describe('one printer', () => {
  it('no module outside the list writes text() and event() side by side', async () => {
    const offenders = (await modulesWritingBoth()).filter((name) => !stillSideBySide.has(name));
    expect(offenders, 'render an engine event with createPrinter (src/cli/printer.ts)').toEqual([]);
  });

  it('the list only holds modules that still do (a converted one leaves it)', async () => {
    const found = new Set(await modulesWritingBoth());
    expect([...stillSideBySide].filter((name) => !found.has(name))).toEqual([]);
  });
});
