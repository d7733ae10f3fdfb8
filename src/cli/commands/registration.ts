// What a command module gets from program.ts to declare its command: the shared option factories
// (one flag spelled, described and defaulted the same in every command) and `defer`, through
// which an action hands program.ts the work to run once parsing has succeeded.
import type { Command, Option } from 'commander';

/** A command's work: it imports its module when it runs and returns the exit code. */
export type Action = () => Promise<number>;

export interface CommandRegistration {
  /** The root program (the man page and completions describe it). */
  readonly program: Command;
  readonly version: string;
  readonly defer: (action: Action) => void;
  readonly configOption: () => Option;
  readonly jsonOption: () => Option;
  readonly dryRunOption: () => Option;
  /** For the commands that run through the run lifecycle (they take the lock). */
  readonly lockWaitOption: () => Option;
}

/** One module's commands, added to the program in the order `--help` lists them. */
export type RegisterCommands = (registration: CommandRegistration) => void;
