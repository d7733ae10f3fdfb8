// The help text's shape, for every command at once. Descriptions are written as source lines
// (wrapped by hand at about 100 columns, so the source stays readable); commander wrapped each of
// those lines again at the terminal's width, leaving every hand-made break as a ragged short
// line. Here a single line break inside a paragraph is a space, so commander's wrap is the only
// one; a blank line (a new paragraph) and a line that starts with blanks (preformatted) stay.
// Where the terms leave the descriptions too narrow a column (the program's own list of commands
// on an 80-column terminal), a description goes under its term instead of staying unwrapped.
// A mandatory option says so. The man page reads the same Help (command-tree.ts).
import { Help, type Argument, type Command, type Option } from 'commander';

/** The hand-made line breaks of `text` undone: one line per paragraph. */
export function unwrapDescription(text: string): string {
  return text.replace(/([^\n])\n(?=\S)/g, '$1 ');
}

/** How far a description under its term is indented. */
const underIndent = 6;

class ShapedHelp extends Help {
  override minWidthToWrap = 30;

  override formatItem(term: string, termWidth: number, description: string, helper: Help): string {
    const width = this.helpWidth ?? 80;
    const column = width - termWidth - 4;
    if (!description || column >= this.minWidthToWrap || helper.preformatted(description))
      return super.formatItem(term, termWidth, description, helper);
    const lines = helper.boxWrap(description, width - underIndent).split('\n');
    return [`  ${term}`, ...lines.map((line) => `${' '.repeat(underIndent)}${line}`)].join('\n');
  }

  override commandDescription(command: Command): string {
    return unwrapDescription(super.commandDescription(command));
  }

  override subcommandDescription(command: Command): string {
    return unwrapDescription(super.subcommandDescription(command));
  }

  override optionDescription(option: Option): string {
    const description = unwrapDescription(super.optionDescription(option));
    return option.mandatory ? `${description} (required)` : description;
  }

  override argumentDescription(argument: Argument): string {
    return unwrapDescription(super.argumentDescription(argument));
  }
}

/** Gives `command` and every command under it the shaped help. */
export function shapeHelp(command: Command): void {
  command.createHelp = function createHelp(this: Command): Help {
    return Object.assign(new ShapedHelp(), this.configureHelp());
  };
  for (const sub of command.commands) shapeHelp(sub);
}
