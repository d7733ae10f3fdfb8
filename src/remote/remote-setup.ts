// What a backup target needs so that snapkeep's key can do its job and nothing else (pure text
// builders): the filter script, the authorized_keys line that forces it, and a sudoers rule that
// names the exact commands the filter runs as root.
import { readFileSync } from 'node:fs';
import { remotePathProblem } from './ssh-url.js';

export const defaultFilterPath = '/usr/local/bin/snapkeep-target-filter';

export interface FilterOptions {
  /** Directories requests may touch. */
  readonly roots: readonly string[];
  readonly noDelete?: boolean;
  readonly noSend?: boolean;
  readonly noSnapshot?: boolean;
  /** The key's user is root: the filter runs btrfs directly. */
  readonly noSudo?: boolean;
  readonly logFile?: string;
  readonly filterPath?: string;
}

export function filterScript(): string {
  return readFileSync(new URL('../../share/snapkeep-target-filter.sh', import.meta.url), 'utf8');
}

function checkedRoots(roots: readonly string[]): readonly string[] {
  if (roots.length === 0) throw new Error('at least one root directory is needed');
  for (const root of roots) {
    const problem = remotePathProblem(root);
    if (problem) throw new Error(`root ${JSON.stringify(root)} ${problem}`);
  }
  return roots.map((root) => root.replace(/\/+$/, '') || '/');
}

/** The forced command, as it appears inside command="…" (no quotes or spaces in its parts). */
export function filterCommand(options: FilterOptions): string {
  const words = [options.filterPath ?? defaultFilterPath];
  for (const root of checkedRoots(options.roots)) words.push('--root', root);
  if (options.noDelete) words.push('--no-delete');
  if (options.noSend) words.push('--no-send');
  if (options.noSnapshot) words.push('--no-snapshot');
  if (options.noSudo) words.push('--no-sudo');
  if (options.logFile) {
    const problem = remotePathProblem(options.logFile);
    if (problem) throw new Error(`log file ${problem}`);
    words.push('--log', options.logFile);
  }
  return words.join(' ');
}

export const publicKeyPattern =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/]+=*( [^\r\n"]*)?$/;

/** `restrict` turns off forwarding, pty, X11 and user rc; the filter is the only command. */
export function authorizedKeysLine(options: FilterOptions, publicKey: string): string {
  const key = publicKey.trim();
  if (!publicKeyPattern.test(key))
    throw new Error(
      'the public key is not an OpenSSH public key line; expected e.g. "ssh-ed25519 AAAA… comment" (the .pub file)',
    );
  return `command="${filterCommand(options)}",restrict ${key}`;
}

export interface SudoersOptions {
  readonly user: string;
  readonly roots: readonly string[];
  readonly btrfsPath?: string;
  readonly mkdirPath?: string;
  readonly noDelete?: boolean;
  readonly noSend?: boolean;
  readonly noSnapshot?: boolean;
}

/**
 * Exactly the commands the filter runs through `sudo -n`, each limited to paths under the roots.
 * sudoers' `*` also matches spaces, so this is a second fence behind the filter, not the only one.
 */
export function sudoersRule(options: SudoersOptions): string {
  if (!/^[a-z_][a-z0-9_.-]{0,31}$/i.test(options.user))
    throw new Error(`user ${JSON.stringify(options.user)} is not a POSIX user name`);
  const btrfs = options.btrfsPath ?? '/usr/bin/btrfs';
  const mkdir = options.mkdirPath ?? '/usr/bin/mkdir';
  const commands: string[] = [];
  for (const root of checkedRoots(options.roots)) {
    const under = `${root}*`;
    commands.push(
      `${btrfs} subvolume list -a -u -q -R -c -g ${under}`,
      `${btrfs} subvolume list -r ${under}`,
      `${btrfs} subvolume show ${under}`,
      `${btrfs} filesystem usage -b ${under}`,
      `${btrfs} receive ${under}`,
      `${mkdir} -p -- ${under}`,
    );
    if (!options.noDelete) commands.push(`${btrfs} subvolume delete -c ${under}`);
    if (!options.noSend) commands.push(`${btrfs} send -q ${under}`, `${btrfs} send -q -p ${under}`);
    if (!options.noSnapshot) commands.push(`${btrfs} subvolume snapshot -r ${under}`);
  }
  // Aliases are global across every file sudo reads: one per user, or a second setup on the same
  // host (another user, another root) would break sudo for both ("Alias already defined").
  const alias = `SNAPKEEP_TARGET_${options.user.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
  return [
    `# snapkeep: the commands its target filter runs as root for ${options.user}, and nothing else.`,
    `Cmnd_Alias ${alias} = ${commands.join(', \\\n    ')}`,
    `Defaults!${alias} !requiretty`,
    `${options.user} ALL=(root) NOPASSWD: ${alias}`,
    '',
  ].join('\n');
}

/** One file per user (sudo skips files in sudoers.d whose names contain a dot). */
export function sudoersFileName(user: string): string {
  return `snapkeep-${user.replace(/\./g, '_')}`;
}
