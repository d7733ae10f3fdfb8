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

const keyTypePattern = /^(ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9-]+)(@openssh\.com)?$/;

/**
 * An authorized_keys line split as sshd reads it: an optional options field (up to the first
 * blank outside double quotes, `\"` escaping a quote), the key type, the base64 key. Comments,
 * blank and unreadable lines give undefined.
 */
export function parseAuthorizedKeysLine(
  line: string,
): { readonly options: string; readonly key: string } | undefined {
  const text = line.trim();
  if (text === '' || text.startsWith('#')) return undefined;
  let options = '';
  let rest = text;
  if (!keyTypePattern.test(text.split(/[ \t]/, 1)[0]!)) {
    let quoted = false;
    let index = 0;
    for (; index < text.length; index++) {
      const character = text[index];
      if (character === '\\' && quoted && text[index + 1] === '"') index++;
      else if (character === '"') quoted = !quoted;
      else if (!quoted && (character === ' ' || character === '\t')) break;
    }
    options = text.slice(0, index);
    rest = text.slice(index).trimStart();
  }
  const [type, blob] = rest.split(/[ \t]+/, 3);
  if (!type || !blob || !keyTypePattern.test(type) || !/^[A-Za-z0-9+/]+=*$/.test(blob)) return undefined;
  return { options, key: `${type} ${blob}` };
}

/**
 * authorized_keys with `keyLine` as the only line of its key, in the place of the first line that
 * had it (appended when none did). sshd uses the first line that matches a key, so an older line
 * left before the new one would keep the old roots (or no filter at all) in force; every other
 * line, comment and blank is kept as it was.
 */
export function replaceKeyLine(
  existing: string,
  keyLine: string,
): { readonly content: string; readonly replaced: number } {
  const key = parseAuthorizedKeysLine(keyLine)?.key;
  if (!key) throw new Error('the authorized_keys line to install has no key');
  const lines = existing === '' ? [] : existing.replace(/\n$/, '').split('\n');
  const kept: string[] = [];
  let replaced = 0;
  for (const line of lines) {
    if (parseAuthorizedKeysLine(line)?.key !== key) kept.push(line);
    else if (replaced++ === 0) kept.push(keyLine);
  }
  if (replaced === 0) kept.push(keyLine);
  return { content: `${kept.join('\n')}\n`, replaced };
}

/**
 * The filter path of the key's current snapkeep line (`command="<path> --root …"`), so that a
 * second setup without --filter-path keeps a filter installed elsewhere, or undefined.
 */
export function installedFilterPath(existing: string, publicKey: string): string | undefined {
  const key = parseAuthorizedKeysLine(publicKey)?.key;
  for (const line of existing.split('\n')) {
    const parsed = parseAuthorizedKeysLine(line);
    if (!parsed || parsed.key !== key) continue;
    const command = /(?:^|,)command="([^"]*)"/.exec(parsed.options)?.[1];
    const words = command?.split(' ') ?? [];
    if (words[1] === '--root' && words[0] && !remotePathProblem(words[0])) return words[0];
    return undefined;
  }
  return undefined;
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

/** sudo matches argument regular expressions from this version on (sudoers(5), "Regular expressions"). */
export const sudoRegexVersion = [1, 9, 10] as const;
/** sudoers(5): "Regular expressions in sudoers are limited to 1024 characters." */
const sudoRegexLimit = 1024;

/**
 * One path component of the remote alphabet (ssh-url.ts) that is not `.` or `..`, as a POSIX
 * ERE. ERE has no lookahead, so the two names are excluded by construction: a component starts
 * with a non-dot, or with one dot and a non-dot, or with two dots and anything (`...` is a name).
 */
const nameCharacter = '[-A-Za-z0-9_:@+=,.]';
const component = `([-A-Za-z0-9_:@+=,]|[.][-A-Za-z0-9_:@+=,]|[.][.]${nameCharacter})${nameCharacter}*`;

/** `.` and `+` are the ERE operators of the alphabet; the rest of a root is literal. */
const literal = (root: string): string => root.replace(/[.+]/g, '[$&]');

/**
 * Patterns for a path that is a root or below one, and strictly below one. Anchored by the caller:
 * a root is followed only by `/component`s, so `<root>x`, `..`, `//`, a trailing `/` or a
 * space (a second argument) cannot match. Root `/` (every other root is then inside it): any
 * path but `/` itself, which the filter refuses anyway.
 */
export function sudoersPathPatterns(roots: readonly string[]): { atOrBelow: string; below: string } {
  const checked = checkedRoots(roots);
  if (checked.includes('/')) return { atOrBelow: `(/${component})+`, below: `(/${component})+` };
  const alternatives = checked.length === 1 ? literal(checked[0]!) : `(${checked.map(literal).join('|')})`;
  return { atOrBelow: `${alternatives}(/${component})*`, below: `${alternatives}(/${component})+` };
}

/**
 * Exactly the commands the filter runs through `sudo -n` (its btrfs_cmd and mkdir_cmd calls, with
 * the paths it resolved), each a regular expression over the whole argument string (sudo joins
 * the arguments with spaces): fixed words, and paths that cannot leave the roots by their
 * spelling. It holds without the filter: no `..`, no sibling prefix, no extra argument. It
 * cannot see symlinks inside a root (sudo matches strings); the filter resolves those.
 */
export function sudoersRule(options: SudoersOptions): string {
  if (!/^[a-z_][a-z0-9_.-]{0,31}$/i.test(options.user))
    throw new Error(`user ${JSON.stringify(options.user)} is not a POSIX user name`);
  const btrfs = options.btrfsPath ?? '/usr/bin/btrfs';
  const mkdir = options.mkdirPath ?? '/usr/bin/mkdir';
  const { atOrBelow: path, below } = sudoersPathPatterns(options.roots);
  const forms: (readonly [string, string])[] = [
    [btrfs, `subvolume list -a -u -q -R -c -g ${path}`],
    [btrfs, `subvolume list -r ${path}`],
    [btrfs, `subvolume show ${path}`],
    [btrfs, `filesystem usage -b ${path}`],
    [btrfs, `receive ${path}`],
    [mkdir, `-p -- ${path}`],
  ];
  // The filter refuses to delete a root itself, and so does this.
  if (!options.noDelete) forms.push([btrfs, `subvolume delete -c ${below}( ${below})*`]);
  if (!options.noSend) forms.push([btrfs, `send -q (-p ${path} )?${path}`]);
  if (!options.noSnapshot) forms.push([btrfs, `subvolume snapshot -r ${path} ${below}`]);
  const commands = forms.map(([file, args]) => {
    const pattern = `^${args}$`;
    if (pattern.length > sudoRegexLimit)
      throw new Error(
        `the roots make a sudoers pattern of ${pattern.length} characters, more than sudo's limit of ${sudoRegexLimit}: use fewer or shorter --root directories`,
      );
    return `${file} ${pattern}`;
  });
  // Aliases are global across every file sudo reads: one per user, or a second setup on the same
  // host (another user, another root) would break sudo for both ("Alias already defined").
  const alias = `SNAPKEEP_TARGET_${options.user.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
  return [
    `# snapkeep: the commands its target filter runs as root for ${options.user}, and nothing else.`,
    `# Arguments are regular expressions (sudo 1.9.10 or later): no path outside the roots.`,
    `Cmnd_Alias ${alias} = ${commands.join(', \\\n    ')}`,
    `Defaults!${alias} !requiretty`,
    `${options.user} ALL=(root) NOPASSWD: ${alias}`,
    '',
  ].join('\n');
}

/** `Sudo version 1.9.13p3` → whether it matches argument regular expressions. */
export function sudoSupportsRegex(versionOutput: string): boolean | undefined {
  const match = /^Sudo version (\d+)\.(\d+)\.(\d+)/m.exec(versionOutput);
  if (!match) return undefined;
  const version = match.slice(1, 4).map(Number);
  for (const [index, wanted] of sudoRegexVersion.entries()) {
    const have = version[index] ?? 0;
    if (have !== wanted) return have > wanted;
  }
  return true;
}

/** One file per user (sudo skips files in sudoers.d whose names contain a dot). */
export function sudoersFileName(user: string): string {
  return `snapkeep-${user.replace(/\./g, '_')}`;
}
