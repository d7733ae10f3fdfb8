// Exit codes are part of the public contract (DESIGN.md, README "Exit codes", `snapkeep --help`).
export const ExitCode = {
  ok: 0,
  fatal: 1,
  usage: 2,
  partial: 3,
  targetUnreachable: 10,
  locked: 11,
  interrupted: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export const exitCodeHelp = `Exit codes:
  0    ok
  1    fatal error
  2    usage or configuration error (nothing was changed)
  3    partial: some jobs failed, the others completed
  10   a target or repository is missing or unreachable
  11   another snapkeep run holds the lock
  130  interrupted`;

/** An error whose message is meant for the user as is, with the exit code it implies. */
export class SnapkeepError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.fatal,
  ) {
    super(message);
    this.name = 'SnapkeepError';
  }
}

export class UsageError extends SnapkeepError {
  constructor(message: string) {
    super(message, ExitCode.usage);
    this.name = 'UsageError';
  }
}
