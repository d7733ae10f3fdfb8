// What `repo init` and `repo check-permissions` report (src/cli/repo-command.ts), one typed event
// each, rendered by createPrinter.
import type { CheckStatus } from './output.js';

/** A repository of `repo init`: there already, created, or (--dry-run) to be created. */
export interface RepositoryEvent {
  readonly type: 'repository';
  readonly name: string;
  readonly url: string;
  readonly exists: boolean;
  readonly created: boolean;
  readonly dryRun?: true;
  /** An offsite repository is created with its set's primary's chunker parameters. */
  readonly chunkerFrom?: string;
}

/** A repository `repo init` could not look at or create (the others go on). */
export interface RepositoryErrorEvent {
  readonly type: 'repository-error';
  readonly name: string;
  readonly error: string;
  readonly exitCode: number;
}

/** One permission proved by the canary (write, read, delete refused). */
export interface RepositoryCheckEvent {
  readonly type: 'check';
  readonly repository: string;
  readonly check: string;
  readonly status: CheckStatus;
  readonly detail: string;
}

/** Something to know while the checks run. */
export interface RepositoryNoteEvent {
  readonly type: 'note';
  readonly repository: string;
  readonly message: string;
}

export type RepoEvent = RepositoryEvent | RepositoryErrorEvent | RepositoryCheckEvent | RepositoryNoteEvent;
