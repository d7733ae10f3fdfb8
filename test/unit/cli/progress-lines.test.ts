// Parallel transfers on a terminal: each keeps its own line, redrawn in place; a finished one's
// line gives way to its outcome line, and the others go on below it.
import { describe, expect, it } from 'vitest';
import { createOutput } from '../../../src/cli/output.js';
import { createProgressLine } from '../../../src/cli/progress.js';
import { VirtualTerminal } from '../../helpers/virtual-terminal.js';

const progress = (label: string, mib: number) => ({
  fields: { label },
  label,
  bytes: mib * 1024 ** 2,
  elapsedMs: 1000,
});

describe('progress lines', () => {
  it('two parallel transfers each keep their line; a finished one is replaced by its outcome', () => {
    const terminal = new VirtualTerminal(60);
    const lines = createProgressLine(createOutput(false), { terminal });
    lines.show(progress('home → usb', 1));
    lines.show(progress('var → usb', 2));
    lines.show(progress('home → usb', 3));
    lines.show(progress('var → usb', 4));
    expect(terminal.screen()).toEqual([
      'home → usb: 3.0 MiB at 3.0 MiB/s',
      'var → usb: 4.0 MiB at 4.0 MiB/s',
    ]);

    // home ends: its line goes, the outcome is printed (stdout, the same screen), var goes on.
    lines.finish('home → usb');
    lines.clear();
    terminal.write('ok   send home.20261202T1000 to usb\n');
    lines.show(progress('var → usb', 5));
    expect(terminal.screen()).toEqual([
      'ok   send home.20261202T1000 to usb',
      'var → usb: 5.0 MiB at 5.0 MiB/s',
    ]);

    lines.finish('var → usb');
    lines.clear();
    terminal.write('ok   send var.20261202T1000 to usb\n');
    expect(terminal.screen()).toEqual([
      'ok   send home.20261202T1000 to usb',
      'ok   send var.20261202T1000 to usb',
    ]);
  });

  it('a line longer than the terminal is cut, so redrawing never leaves wrapped remains', () => {
    const terminal = new VirtualTerminal(30);
    const lines = createProgressLine(createOutput(false), { terminal });
    lines.show(progress('a-very-long-subvolume-name → offsite', 1));
    lines.show(progress('b → offsite', 1));
    lines.show(progress('a-very-long-subvolume-name → offsite', 2));
    const screen = terminal.screen();
    expect(screen).toHaveLength(2);
    expect(screen.every((line) => line.length < 30)).toBe(true);
    expect(screen[0]).toMatch(/…$/);
  });

  it('not a terminal, or --json: nothing drawn', () => {
    const terminal = {
      isTTY: false,
      columns: 80,
      written: '',
      write(text: string) {
        this.written += text;
      },
    };
    const lines = createProgressLine(createOutput(false), { terminal });
    lines.show(progress('x → y', 1));
    expect(terminal.written).toBe('');
  });
});
