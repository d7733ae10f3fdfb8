import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

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

/**
 * An error of the operating system as Node reports it (`code`, `syscall`, usually `path`):
 * "ENOENT: no such file or directory, realpath '/srv/x'" says neither what snapkeep was doing
 * nor what to do about it.
 */
export function isSystemError(
  error: unknown,
): error is NodeJS.ErrnoException & { code: string; dest?: string } {
  return (
    error instanceof Error &&
    typeof (error as NodeJS.ErrnoException).code === 'string' &&
    /^E[A-Z0-9]+$/.test((error as NodeJS.ErrnoException).code!) &&
    typeof (error as NodeJS.ErrnoException).syscall === 'string'
  );
}

/** What snapkeep was doing, by the failing system call. */
const actions: Readonly<Record<string, string>> = {
  realpath: 'cannot resolve',
  stat: 'cannot look at',
  lstat: 'cannot look at',
  access: 'cannot access',
  open: 'cannot open',
  read: 'cannot read',
  write: 'cannot write to',
  mkdir: 'cannot create the directory',
  mkdtemp: 'cannot create a temporary directory in',
  rmdir: 'cannot remove the directory',
  unlink: 'cannot remove',
  rm: 'cannot remove',
  rename: 'cannot rename',
  copyfile: 'cannot copy',
  scandir: 'cannot list the directory',
  opendir: 'cannot list the directory',
  chmod: 'cannot change the permissions of',
  chown: 'cannot change the owner of',
  symlink: 'cannot create the link',
  link: 'cannot create the link',
  fsync: 'cannot flush',
  close: 'cannot close',
  ftruncate: 'cannot truncate',
  utime: 'cannot set the times of',
};

/** The cause in words, and what a person can do about it, by errno code. */
const causes: Readonly<Record<string, { readonly cause: string; readonly fix: string }>> = {
  ENOENT: {
    cause: 'it does not exist',
    fix: 'check the path (a typo? a disk that is not mounted?) or create it',
  },
  ENOTDIR: {
    cause: 'a part of the path is a file, not a directory',
    fix: 'move that file away or choose another path',
  },
  EISDIR: { cause: 'it is a directory, where a file was expected', fix: 'give the path of a file' },
  EACCES: {
    cause: 'permission denied',
    fix: 'run snapkeep as a user that may access it (root, for btrfs), or change its permissions',
  },
  EPERM: {
    cause: 'the operation is not permitted',
    fix: 'run snapkeep as a user that may do it (root, for btrfs), or check the file attributes (lsattr)',
  },
  EROFS: {
    cause: 'the filesystem is read-only',
    fix: 'remount it read-write (is the disk failing? see dmesg) or choose a path on a writable filesystem',
  },
  ENOSPC: {
    cause: 'no space is left on the device',
    fix: 'free space on that filesystem (df -h; on btrfs, old snapshots hold space: snapkeep prune)',
  },
  EDQUOT: { cause: 'the disk quota is exceeded', fix: 'free space or raise the quota' },
  EEXIST: { cause: 'it already exists', fix: 'remove it or choose another path' },
  ENOTEMPTY: {
    cause: 'the directory is not empty',
    fix: 'empty it or choose another path',
  },
  EBUSY: {
    cause: 'it is busy (mounted, or in use by another process)',
    fix: 'unmount it or stop what uses it (fuser -vm PATH)',
  },
  EIO: {
    cause: 'an input/output error (a failing disk or a lost network filesystem?)',
    fix: 'check the device (dmesg, smartctl) before trusting what is on it',
  },
  ELOOP: { cause: 'too many levels of symbolic links', fix: 'check the links along the path (a loop?)' },
  ENAMETOOLONG: { cause: 'the path is too long', fix: 'choose a shorter path' },
  EMFILE: { cause: 'too many open files', fix: 'raise the limit (ulimit -n)' },
  ENFILE: { cause: 'too many open files on the system', fix: 'raise fs.file-max or close other programs' },
  EXDEV: {
    cause: 'the paths are on different filesystems',
    fix: 'keep both on the same filesystem',
  },
  ETXTBSY: { cause: 'the file is being executed', fix: 'stop the program that runs it' },
};

/**
 * `mkdir(…, { recursive: true })` reports ENOENT for every failure on the way (a read-only
 * filesystem, a denied permission): the nearest existing ancestor tells the real cause.
 */
function recursiveMkdirCause(path: string): NodeJS.ErrnoException | undefined {
  let ancestor = dirname(path);
  while (!existsSync(ancestor) && dirname(ancestor) !== ancestor) ancestor = dirname(ancestor);
  try {
    if (!statSync(ancestor).isDirectory())
      return Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${path}'`), {
        code: 'ENOTDIR',
        syscall: 'mkdir',
        path: ancestor,
      });
    accessSync(ancestor, constants.W_OK);
  } catch (error) {
    const found = error as NodeJS.ErrnoException;
    return Object.assign(found, { syscall: 'mkdir', path: ancestor });
  }
  return undefined;
}

/** The system error as a sentence: what was done to which path, why it failed, what to do. */
export function describeSystemError(error: NodeJS.ErrnoException & { code: string; dest?: string }): string {
  if (error.syscall === 'mkdir' && error.code === 'EEXIST' && error.path !== undefined) {
    const isDirectory = ((): boolean | undefined => {
      try {
        return statSync(error.path).isDirectory();
      } catch {
        return undefined;
      }
    })();
    if (isDirectory === false)
      return `cannot create the directory ${error.path}: a file of that name is there (EEXIST); move that file away or choose another path`;
  }
  if (error.syscall === 'mkdir' && error.code === 'ENOENT' && error.path !== undefined) {
    const cause = recursiveMkdirCause(error.path);
    if (isSystemError(cause) && cause.code !== 'ENOENT')
      return `cannot create the directory ${error.path}: in ${cause.path ?? '?'}: ${causes[cause.code]?.cause ?? cause.message} (${cause.code}); ${causes[cause.code]?.fix ?? 'check that directory'}`;
  }
  const action = actions[error.syscall ?? ''] ?? `${error.syscall ?? 'the operation'} failed on`;
  const target =
    error.path !== undefined
      ? error.dest !== undefined
        ? `${error.path} to ${error.dest}`
        : error.path
      : undefined;
  const known = causes[error.code];
  // Without a path Node's own words are all there is (they name the call).
  if (!target) return known ? `${known.cause} (${error.message}); ${known.fix}` : error.message;
  return known
    ? `${action} ${target}: ${known.cause} (${error.code}); ${known.fix}`
    : `${action} ${target}: ${error.message.replace(/^[A-Z0-9]+: /, '').replace(/, \w+ '.*'$/, '')} (${error.code})`;
}

// What tools print for the codes above (strerror): their messages reach the journal as text.
const phrases: readonly (readonly [RegExp, string])[] = [
  [/no space left on device/i, 'ENOSPC'],
  [/disk quota exceeded/i, 'EDQUOT'],
  [/read-only file system/i, 'EROFS'],
  [/permission denied/i, 'EACCES'],
  [/operation not permitted/i, 'EPERM'],
  [/input\/output error/i, 'EIO'],
  [/no such file or directory/i, 'ENOENT'],
  [/device or resource busy/i, 'EBUSY'],
];

/**
 * The cause and fix of the system error a message names (an errno code, or a tool's strerror
 * words: "No space left on device"), for messages that are only text by now (the journal's).
 */
export function explainErrorText(message: string): { cause: string; fix: string } | undefined {
  const named = [...message.matchAll(/\b(E[A-Z]{2,})\b/g)]
    .map((match) => match[1]!)
    .find((code) => code in causes);
  const code = named ?? phrases.find(([pattern]) => pattern.test(message))?.[1];
  return code === undefined ? undefined : causes[code];
}

/** An error's message for a person: system errors explained, others as they are. */
export function messageOf(error: unknown): string {
  if (error instanceof SnapkeepError) return error.message;
  if (isSystemError(error)) return describeSystemError(error);
  return error instanceof Error ? error.message : String(error);
}

/**
 * messageOf for an operation on `path`: calls on an open file (read, write, fsync) fail without
 * the path, which the caller knows.
 */
export function messageOfPathError(error: unknown, path: string): string {
  if (isSystemError(error) && error.path === undefined)
    return describeSystemError(Object.assign(error, { path }));
  return messageOf(error);
}
