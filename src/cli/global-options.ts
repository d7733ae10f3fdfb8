// The program's flags (`snapkeep -c FILE -q run`). Commander parses the program's options
// anywhere on the line (`snapkeep run -c FILE` too, the last one given wins), so the command's own
// --config is always empty when -c was given: it is handed over here, before the action runs.
import type { Command } from 'commander';
import { setQuiet } from './output.js';

/** Copies -c/--config to the running command (which must take one) and applies --quiet. */
export function applyGlobalOptions(program: Command, command: Command): void {
  const global = program.opts<{ config?: string; quiet?: boolean }>();
  if (global.quiet) setQuiet(true);
  if (global.config === undefined || command === program) return;
  const takesConfig = command.options.some((option) => option.attributeName() === 'config');
  if (!takesConfig) {
    program.error(`error: snapkeep ${commandPath(command)} does not read a configuration: drop -c/--config`, {
      code: 'snapkeep.configNotUsed',
      exitCode: 2,
    });
  }
  command.setOptionValue('config', global.config);
}

/** The command's words after `snapkeep`: `remote verify`. */
export function commandPath(command: Command): string {
  const names: string[] = [];
  for (let current: Command | null = command; current?.parent; current = current.parent)
    names.unshift(current.name());
  return names.join(' ');
}
