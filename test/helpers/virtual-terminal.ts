// A minimal terminal screen for asserting what a person sees: printable text, \r, \n, and the
// escapes snapkeep's progress display uses (ESC[K erase to end of line, ESC[nA cursor up).
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
