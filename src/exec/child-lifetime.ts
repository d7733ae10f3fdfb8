// Children die with snapkeep, also when it is killed without a chance to stop them (SIGKILL, the
// OOM killer). A `btrfs receive` that outlived a killed run went on writing by path into the next
// run's copy of the same name and stamped it received: a corrupt copy that passed verification.
//
// Every child is started through util-linux's `setpriv --pdeathsig SIGKILL -- FILE ARGS…`: the
// kernel sends SIGKILL to the child when the thread that started it (Node's main thread) ends,
// and setpriv execs FILE in place, so no process stays in between. The setting survives exec
// except into a set-user-ID or file-capability binary started by a user it changes (a non-root
// user's `sudo`): snapkeep itself never starts one locally. Processes a child forks are not
// covered (pdeathsig is not inherited): the ssh master (`ssh -f`) lives on by design and ends by
// ControlPersist; an ssh client that dies ends its remote command by closing the channel.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** What resolveExecutable found, by PATH and name: a run starts hundreds of the same few programs. */
const found = new Map<string, string>();

/**
 * The executable `name` runs with this PATH, as execvp finds it (synchronous: spawn is). Found
 * ones are remembered for the life of this process (a lookup is an access(2) per PATH entry on
 * the main thread); one not found is looked for again next time.
 */
export function resolveExecutable(name: string, path: string | undefined): string | undefined {
  const key = `${path ?? ''}\u0000${name}`;
  const known = found.get(key);
  if (known !== undefined) return known;
  const resolved = searchPath(name, path);
  if (resolved !== undefined) found.set(key, resolved);
  return resolved;
}

function searchPath(name: string, path: string | undefined): string | undefined {
  const candidates = name.includes('/')
    ? [name]
    : (path ?? '')
        .split(delimiter)
        .filter(Boolean)
        .map((directory) => join(directory, name));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here: the next directory
    }
  }
  return undefined;
}

let setpriv: string | null | undefined;

function setprivPath(): string | undefined {
  // Looked up once, on snapkeep's own PATH (util-linux: /usr/bin/setpriv).
  setpriv ??=
    resolveExecutable('setpriv', process.env.PATH) ?? resolveExecutable('setpriv', '/usr/bin:/bin') ?? null;
  return setpriv ?? undefined;
}

/**
 * The argv that starts `executable args…` (a path resolveExecutable found) bound to this
 * process's life; without setpriv (not util-linux) the command is started unbound.
 */
export function boundToThisProcess(
  executable: string,
  args: readonly string[],
): { readonly file: string; readonly args: readonly string[] } {
  const binder = setprivPath();
  return binder
    ? { file: binder, args: ['--pdeathsig', 'SIGKILL', '--', executable, ...args] }
    : { file: executable, args };
}
