// The visible command tree as data, read from commander through its own Help class (the same
// calls `--help` makes), so the man page and the completion scripts list exactly what `--help`
// lists, including commands added later anywhere in program.ts.
import type { Command, Option } from 'commander';

export interface OptionNode {
  /** As `--help` shows it: `-c, --config <file>`. */
  readonly term: string;
  /** The option's words: `-c`, `--config`. */
  readonly names: readonly string[];
  /** As `--help` shows it, with `(default: …)` and `(choices: …)`. */
  readonly description: string;
  /** The description alone, first line (for completion menus). */
  readonly brief: string;
  readonly takesValue: boolean;
  /** What its value is: listed choices, a file or directory path, or anything. */
  readonly value:
    | { readonly kind: 'choices'; readonly choices: readonly string[] }
    | { readonly kind: 'file' | 'directory' | 'any' };
}

export interface ArgumentNode {
  readonly term: string;
  readonly description: string;
}

export interface CommandNode {
  /** Words after `snapkeep`: [] for the program, ['config', 'init'] for `snapkeep config init`. */
  readonly path: readonly string[];
  readonly names: readonly string[];
  /** One line, as the parent's `--help` lists it. */
  readonly summary: string;
  readonly description: string;
  /** `snapkeep config init [options]`. */
  readonly usage: string;
  readonly options: readonly OptionNode[];
  readonly arguments: readonly ArgumentNode[];
  readonly subcommands: readonly CommandNode[];
}

function optionValue(option: Option): OptionNode['value'] {
  if (option.argChoices) return { kind: 'choices', choices: option.argChoices };
  const valueName = /[<[]([^>\]]+)[>\]]/.exec(option.flags)?.[1] ?? '';
  if (/dir/.test(valueName)) return { kind: 'directory' };
  if (/file|path/.test(valueName)) return { kind: 'file' };
  return { kind: 'any' };
}

function describeOption(option: Option, help: ReturnType<Command['createHelp']>): OptionNode {
  return {
    term: help.optionTerm(option),
    names: [option.short, option.long].filter((name): name is string => name !== undefined),
    description: help.optionDescription(option),
    brief: (option.description.split('\n')[0] ?? '').trim(),
    takesValue: option.required || option.optional,
    value: optionValue(option),
  };
}

/** The tree under `command`; `parentPath` is undefined for the program itself. */
export function describeCommandTree(command: Command, parentPath?: readonly string[]): CommandNode {
  const help = command.createHelp();
  // Not command.parent: commander's implicit `help` command has none.
  const path = parentPath === undefined ? [] : [...parentPath, command.name()];
  return {
    path,
    names: [command.name(), ...command.aliases()],
    summary: parentPath === undefined ? command.description() : help.subcommandDescription(command),
    description: help.commandDescription(command),
    usage: ['snapkeep', ...path, command.usage()].join(' '),
    options: help.visibleOptions(command).map((option) => describeOption(option, help)),
    arguments: help.visibleArguments(command).map((argument) => ({
      term: help.argumentTerm(argument),
      description: help.argumentDescription(argument),
    })),
    subcommands: help.visibleCommands(command).map((sub) => describeCommandTree(sub, path)),
  };
}

/** Every node, depth first, the program first. */
export function allCommands(root: CommandNode): CommandNode[] {
  return [root, ...root.subcommands.flatMap(allCommands)];
}

/** The program's own options that work after any command too (not --help or --version). */
export function globalOptions(root: CommandNode): OptionNode[] {
  return root.options.filter(
    (option) => !option.names.some((name) => ['--help', '--version'].includes(name)),
  );
}
