// A minimal terminal screen for asserting what a person sees: printable text, \r, \n, and the
// escapes snapkeep's progress display uses (ESC[K erase to end of line, ESC[nA cursor up).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../../src/exec/command.js';

const quote = (word: string): string => `'${word.replaceAll("'", "'\\''")}'`;

/**
 * Run argv on a real pty (script(1)) of `columns` columns; its exit code and what it wrote there
 * (the pty turns \n into \r\n, as a terminal receives it). The transcript goes to `directory`.
 */
export async function runOnPty(
  argv: readonly string[],
  directory: string,
  columns: number,
): Promise<{ readonly exitCode: number | null; readonly output: string }> {
  const transcript = join(directory, 'transcript');
  const result = await runCommand({
    file: 'script',
    args: ['-q', '-e', '-c', argv.map(quote).join(' '), transcript],
    env: { COLUMNS: String(columns), LINES: '40' },
  });
  const output = (await readFile(transcript, 'utf8'))
    .replace(/^Script started.*\n/, '')
    .replace(/\nScript done.*\n?$/, '');
  return { exitCode: result.exitCode, output };
}
export class VirtualTerminal {
  readonly isTTY = true;
  readonly rows: string[] = [''];
  private row = 0;
  private column = 0;

  constructor(readonly columns = 80) {}

  write(text: string): boolean {
    for (let index = 0; index < text.length; index++) {
      const char = text[index]!;
      if (char === '\x1b') {
        const match = /^\[(\d*)([A-Za-z])/.exec(text.slice(index + 1));
        if (!match) throw new Error(`unsupported escape at ${JSON.stringify(text.slice(index, index + 8))}`);
        index += match[0].length; // the ESC and the sequence after it
        const count = Number(match[1] || 1);
        if (match[2] === 'K') this.rows[this.row] = this.rows[this.row]!.slice(0, this.column);
        else if (match[2] === 'A') this.row = Math.max(0, this.row - count);
        else throw new Error(`unsupported escape ESC[${match[1]}${match[2]}`);
      } else if (char === '\r') this.column = 0;
      else if (char === '\n') {
        this.row += 1;
        this.column = 0;
        if (this.rows.length <= this.row) this.rows.push('');
      } else {
        const line = this.rows[this.row]!.padEnd(this.column);
        this.rows[this.row] = line.slice(0, this.column) + char + line.slice(this.column + 1);
        this.column += 1;
      }
    }
    return true;
  }

  /** The screen's lines, trailing empty ones dropped. */
  screen(): string[] {
    const lines = this.rows.map((line) => line.trimEnd());
    while (lines.length > 0 && lines.at(-1) === '') lines.pop();
    return lines;
  }
}
