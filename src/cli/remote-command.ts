// `snapkeep remote …`: prepare a backup host for snapkeep's key and check it from this side.
//   remote filter --print           the target filter script (install it on the host)
//   remote setup  --print …         the authorized_keys line and the sudoers rule for a host
//   remote setup  --install …       run ON the host as root: install filter, sudoers, key
//   remote verify <target>          from the client: allowed requests work, forbidden ones fail
//   remote setup --watch <target>   from the client: the target-side watch (remote-watch-command.ts)
import { chmod, mkdir, readFile, writeFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { loadResolvedConfig } from '../config/config-cache.js';
import { ExitCode, UsageError } from '../errors.js';
import { runCommand } from '../exec/command.js';
import { SshHost, type SshSettings } from '../remote/ssh-host.js';
import {
  fingerprintPattern,
  lookUpHostKey,
  ownHostKeys,
  pinHostKey,
  scanHostKeys,
} from '../remote/host-key.js';
import {
  authorizedKeysLine,
  defaultFilterPath,
  filterCommand,
  filterScript,
  installedFilterPath,
  replaceKeyLine,
  sudoersRule,
  sudoRegexVersion,
  sudoSupportsRegex,
  type FilterOptions,
  sudoersFileName,
} from '../remote/remote-setup.js';
import { remotePathProblem } from '../remote/ssh-url.js';
import { createOutput } from './output.js';
import { createPrinter, type TextLine } from './printer.js';

export function runRemoteFilterPrint(): number {
  process.stdout.write(filterScript());
  return ExitCode.ok;
}

export interface RemoteSetupOptions {
  readonly roots: readonly string[];
  readonly user: string;
  readonly publicKey?: string;
  readonly noDelete: boolean;
  readonly noSend: boolean;
  readonly noSnapshot: boolean;
  readonly log?: string;
  /** Unset: the path of the key's current line on the host (--install), else the default. */
  readonly filterPath?: string;
  /** Where this host's sshd reads its HostKey settings (--install prints their fingerprints). */
  readonly sshdConfig?: string;
  readonly install: boolean;
  readonly yes: boolean;
  readonly json: boolean;
  /** Where --install writes (tests use a throwaway root; default /). */
  readonly installRoot?: string;
}

/** What `remote setup` and `remote verify` report (rendered by remoteText). */
export type RemoteEvent =
  | {
      /** Without --install: what the host needs, to be installed by hand. */
      readonly type: 'remote-setup';
      readonly user: string;
      readonly authorizedKeys: string;
      readonly sudoers?: string;
      readonly filterPath: string;
    }
  | {
      /** --install: what is about to be written on this host (then asked, unless --yes). */
      readonly type: 'remote-install-plan';
      readonly filter: string;
      readonly sudoers?: string;
      readonly authorizedKeys: string;
      readonly replacedLines: number;
      readonly keyLine: string;
    }
  | { readonly type: 'remote-not-installed'; readonly reason: string }
  | {
      readonly type: 'remote-installed';
      readonly filter: string;
      readonly sudoers?: string;
      readonly authorizedKeys: string;
      readonly replacedLines: number;
      readonly hostKeys: readonly {
        readonly type: string;
        readonly fingerprint: string;
        readonly path: string;
      }[];
    }
  | { readonly type: 'check'; readonly name: string; readonly status: 'ok' | 'fail'; readonly detail: string }
  | { readonly type: 'summary'; readonly target: string; readonly failures: number };

function remoteText(event: RemoteEvent): readonly TextLine[] {
  switch (event.type) {
    case 'remote-setup':
      return [
        `# 1. On the backup host, install the filter (snapkeep remote filter --print > ${event.filterPath}; chmod 755 it).`,
        `# 2. Put this line in ~${event.user}/.ssh/authorized_keys, in place of any other line of the same key`,
        '#    (sshd uses the first line that matches a key):',
        event.authorizedKeys,
        ...(event.sudoers
          ? [
              `# 3. Put this rule in /etc/sudoers.d/${sudoersFileName(event.user)} (check it with visudo -cf FILE; needs sudo ${sudoRegexVersion.join('.')} or later):`,
              event.sudoers,
            ]
          : ['# 3. No sudoers rule: the user is root, the filter runs btrfs directly.']),
        "# 4. On the host, its key's fingerprint: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub",
        '#    From the client, pinning that fingerprint: snapkeep remote verify <target> --host-key SHA256:…',
        '# Or run this command with --install on the backup host, as root (it prints the fingerprint).',
      ];
    case 'remote-install-plan': {
      const keyAction =
        event.replacedLines > 0
          ? `replace the key's ${event.replacedLines === 1 ? 'line' : `${event.replacedLines} lines`} with`
          : 'append';
      return [
        'about to install on this host:',
        `  ${event.filter} (the filter)`,
        ...(event.sudoers ? [`  ${event.sudoers} (sudoers rule)`] : []),
        `  ${event.authorizedKeys} (${keyAction}: ${event.keyLine.slice(0, 80)}…)`,
      ];
    }
    case 'remote-not-installed':
      return ['nothing installed'];
    case 'remote-installed': {
      const preferred = event.hostKeys.find((key) => key.type === 'ssh-ed25519') ?? event.hostKeys[0];
      return [
        `installed (${event.replacedLines > 0 ? "the key's line replaced" : 'the key appended'})`,
        ...(preferred
          ? [
              "this host's keys (what the client must see; compare before trusting):",
              ...event.hostKeys.map((key) => `  ${key.fingerprint} ${key.type} (${key.path})`),
              `now, from the client: snapkeep remote verify <target> --host-key ${preferred.fingerprint}`,
              '  (records the host key in ssh.known_hosts only if the host presents that fingerprint)',
            ]
          : [
              'no host key found to print (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub shows it);',
              'now, from the client: snapkeep remote verify <target> --host-key <its SHA256 fingerprint>',
            ]),
      ];
    }
    case 'check':
      return [
        `${event.status === 'ok' ? 'OK  ' : 'FAIL'} ${event.name}${event.detail ? `: ${event.detail}` : ''}`,
      ];
    case 'summary':
      return [
        event.failures === 0
          ? `${event.target}: ready`
          : `${event.target}: ${event.failures} check(s) failed`,
      ];
  }
}

export async function runRemoteSetup(options: RemoteSetupOptions): Promise<number> {
  const print = createPrinter<RemoteEvent>(createOutput(options.json), remoteText);
  if (options.roots.length === 0) throw new UsageError('remote setup needs at least one --root DIR');
  let publicKey: string | undefined;
  if (options.publicKey) {
    try {
      publicKey = await readFile(options.publicKey, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read the public key ${options.publicKey}: ${(error as Error).message}`);
    }
  }
  if (options.install && !publicKey)
    throw new UsageError('remote setup --install needs --public-key FILE (the client key .pub)');
  if (options.install && process.getuid?.() !== 0 && !options.installRoot)
    throw new UsageError('remote setup --install must run as root on the backup host');
  const root = options.installRoot ?? '/';
  const authorizedKeysFile = options.install
    ? join(root, await homeOf(options.user, root), '.ssh/authorized_keys')
    : undefined;
  const existingKeys = authorizedKeysFile ? await readFile(authorizedKeysFile, 'utf8').catch(() => '') : '';
  // A second setup replaces the key's line; without --filter-path it keeps the filter where the
  // line had it (doctor's advice names no --filter-path: it cannot know it).
  const filterPath =
    options.filterPath ??
    (publicKey ? installedFilterPath(existingKeys, publicKey) : undefined) ??
    defaultFilterPath;
  const filter: FilterOptions = {
    roots: options.roots,
    noDelete: options.noDelete,
    noSend: options.noSend,
    noSnapshot: options.noSnapshot,
    noSudo: options.user === 'root',
    logFile: options.log,
    filterPath,
  };
  let keyLine: string;
  let sudoers: string | undefined;
  try {
    const problem = remotePathProblem(filterPath);
    if (problem) throw new Error(`--filter-path ${filterPath} ${problem}`);
    keyLine = publicKey
      ? authorizedKeysLine(filter, publicKey)
      : `command="${filterCommand(filter)}",restrict <public key>`;
    sudoers = options.user === 'root' ? undefined : sudoersRule({ ...filter, user: options.user });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }

  if (!options.install || !authorizedKeysFile) {
    print({
      type: 'remote-setup',
      user: options.user,
      authorizedKeys: keyLine,
      ...(sudoers ? { sudoers } : {}),
      filterPath,
    });
    return ExitCode.ok;
  }

  if (sudoers) {
    // Older sudo reads `^…$` arguments as wildcards, which match nothing snapkeep sends: refuse
    // rather than install a rule that fails every request.
    const version = await runCommand({ file: 'sudo', args: ['-V'] }).catch(() => undefined);
    const supported = version?.exitCode === 0 ? sudoSupportsRegex(version.stdout) : undefined;
    if (supported !== true)
      throw new UsageError(
        `the sudoers rule needs sudo ${sudoRegexVersion.join('.')} or later (regular expressions in arguments); this host has ${version?.exitCode === 0 ? version.stdout.split('\n')[0] : 'no working sudo'}`,
      );
  }
  const replacement = replaceKeyLine(existingKeys, keyLine);
  const files = {
    filter: join(root, filterPath),
    sudoers: join(root, 'etc/sudoers.d', sudoersFileName(options.user)),
    authorizedKeys: authorizedKeysFile,
  };
  print({
    type: 'remote-install-plan',
    filter: files.filter,
    ...(sudoers ? { sudoers: files.sudoers } : {}),
    authorizedKeys: files.authorizedKeys,
    replacedLines: replacement.replaced,
    keyLine,
  });
  if (!options.yes && !(await confirm('install? [y/N] '))) {
    print({
      type: 'remote-not-installed',
      reason: process.stdin.isTTY ? 'not confirmed' : 'no terminal to ask and no --yes',
    });
    return ExitCode.usage;
  }
  await mkdir(dirname(files.filter), { recursive: true });
  await writeFile(`${files.filter}.tmp`, filterScript(), { mode: 0o755 });
  await rename(`${files.filter}.tmp`, files.filter);
  if (sudoers) {
    const candidate = `${files.sudoers}.tmp`;
    await mkdir(dirname(files.sudoers), { recursive: true });
    await writeFile(candidate, sudoers, { mode: 0o440 });
    const check = await runCommand({ file: 'visudo', args: ['-c', '-q', '-f', candidate] });
    if (check.exitCode !== 0)
      throw new Error(`the generated sudoers rule does not pass visudo: ${check.stderr.trim()}`);
    await rename(candidate, files.sudoers);
  }
  await mkdir(dirname(files.authorizedKeys), { recursive: true, mode: 0o700 });
  // Written whole and renamed: sshd never reads a half-written file, and the other lines stay.
  const candidateKeys = `${files.authorizedKeys}.snapkeep-new`;
  await writeFile(candidateKeys, replacement.content, { mode: 0o600 });
  await chmod(candidateKeys, 0o600);
  if (root === '/') await runCommand({ file: 'chown', args: [`${options.user}:`, candidateKeys] });
  await rename(candidateKeys, files.authorizedKeys);
  if (root === '/') {
    await runCommand({ file: 'chown', args: ['-R', `${options.user}:`, dirname(files.authorizedKeys)] });
  }
  const hostKeys = await ownHostKeys(options.sshdConfig ?? '/etc/ssh/sshd_config');
  print({
    type: 'remote-installed',
    filter: files.filter,
    ...(sudoers ? { sudoers: files.sudoers } : {}),
    authorizedKeys: files.authorizedKeys,
    replacedLines: replacement.replaced,
    hostKeys: hostKeys.map(({ type, fingerprint, path }) => ({ type, fingerprint, path })),
  });
  return ExitCode.ok;
}

async function homeOf(user: string, root: string): Promise<string> {
  const passwd = await readFile(join(root, 'etc/passwd'), 'utf8').catch(() => '');
  const entry = passwd.split('\n').find((line) => line.startsWith(`${user}:`));
  if (!entry)
    throw new UsageError(`user ${user} does not exist on this host (create it first: useradd -m ${user})`);
  return entry.split(':')[5] ?? `/home/${user}`;
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await prompt.question(question)).trim());
  } finally {
    prompt.close();
  }
}

export interface RemoteVerifyOptions {
  readonly config?: string;
  readonly target: string;
  readonly json: boolean;
  /** `SHA256:…` as `remote setup --install` printed it: record the host key if it matches. */
  readonly hostKey?: string;
}

/** From the client: the connection, the filter's allowed requests, and refusals of forbidden ones. */
export async function runRemoteVerify(options: RemoteVerifyOptions): Promise<number> {
  const print = createPrinter<RemoteEvent>(createOutput(options.json), remoteText);
  const { resolved } = await loadResolvedConfig(options.config);
  const target = resolved.subvolumes
    .flatMap((subvolume) => subvolume.targets)
    .find((candidate) => candidate.name === options.target);
  if (!target) throw new UsageError(`no subvolume sends to a target named "${options.target}"`);
  if (!target.ssh)
    throw new UsageError(`target ${options.target} is local (${target.path}); nothing to verify over ssh`);
  if (options.hostKey !== undefined && !fingerprintPattern.test(options.hostKey))
    throw new UsageError(
      `--host-key ${JSON.stringify(options.hostKey)} is not a key fingerprint; expected SHA256: and 43 base64 characters, as ssh-keygen -lf prints it`,
    );
  const host = new SshHost(target.ssh);
  let failures = 0;
  const check = (name: string, ok: boolean, detail: string): void => {
    if (!ok) failures++;
    print({ type: 'check', name, status: ok ? 'ok' : 'fail', detail });
  };
  const finish = (): number => {
    print({ type: 'summary', target: options.target, failures });
    return failures === 0 ? ExitCode.ok : ExitCode.targetUnreachable;
  };
  const hostKey = await checkHostKey(target.ssh, options.target, options.hostKey);
  check('host key', hostKey.ok, hostKey.detail);
  if (!hostKey.ok) return finish();
  try {
    const resolvedPath = await host.realpath(target.path).then(
      (path) => ({ ok: true, path }),
      (error: unknown) => ({ ok: false, path: (error as Error).message }),
    );
    check('connect and resolve the target directory', resolvedPath.ok, resolvedPath.path);
    const list = await host.run({ file: 'btrfs', args: ['subvolume', 'list', '-r', target.path] });
    check(
      'list subvolumes (btrfs through sudo)',
      list.exitCode === 0,
      list.exitCode === 0 ? '' : list.stderr.trim(),
    );
    const usage = await host.run({ file: 'btrfs', args: ['filesystem', 'usage', '-b', target.path] });
    check('read filesystem usage', usage.exitCode === 0, usage.exitCode === 0 ? '' : usage.stderr.trim());
    // Must be refused: a path outside the roots, and a command outside the grammar.
    const outside = await host.run({ file: 'btrfs', args: ['subvolume', 'list', '-r', '/'] });
    check(
      'a path outside the roots is refused',
      outside.exitCode !== 0,
      outside.stderr.trim().split('\n').at(-1) ?? '',
    );
    const foreign = await host.run({ file: 'id', args: [] });
    check(
      'a command outside the grammar is refused',
      foreign.exitCode !== 0,
      foreign.stderr.trim().split('\n').at(-1) ?? '',
    );
  } catch (error) {
    check('connect', false, (error as Error).message);
  } finally {
    await host.close();
  }
  return finish();
}

/**
 * The host key, before anything else: known already (and, with a pin, the same key), or pinned
 * now. An unknown host without a pin is not trusted: the detail shows what it presents and how
 * to compare it with the host's own key.
 */
async function checkHostKey(
  ssh: SshSettings,
  targetName: string,
  pin: string | undefined,
): Promise<{ ok: boolean; detail: string }> {
  const known = await lookUpHostKey(ssh);
  const compare = `compare it with the fingerprint \`snapkeep remote setup --install\` printed on the host (or ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub there)`;
  if (known.found) {
    if (pin === undefined || known.fingerprints?.includes(pin))
      return { ok: true, detail: `${known.name} is in ${known.files.join(' or ')}` };
    return {
      ok: false,
      detail: `${known.files.join(' or ')} holds another key for ${known.name} (${known.fingerprints?.join(', ') ?? '?'}) than --host-key ${pin}: if the host was rebuilt, remove the old one (ssh-keygen -R '${known.name}' -f FILE) and run this again`,
    };
  }
  if (pin === undefined) {
    const scan = await scanHostKeys(ssh);
    const presented = scan.ok
      ? `it presents ${scan.keys.map((key) => `${key.fingerprint} (${key.type})`).join(', ')}`
      : scan.message;
    return {
      ok: false,
      detail: `no key for ${known.name} in ${known.files.join(' or ')} (snapkeep trusts no unknown host); ${presented}; ${compare}, then: snapkeep remote verify ${targetName} --host-key <that fingerprint>`,
    };
  }
  const pinned = await pinHostKey(ssh, pin);
  if (pinned.kind === 'recorded')
    return {
      ok: true,
      detail: `recorded ${pinned.key.fingerprint} (${pinned.key.type}) for ${known.name} in ${pinned.file}`,
    };
  if (pinned.kind === 'unreachable') return { ok: false, detail: pinned.message };
  return {
    ok: false,
    detail: `${known.name} presents ${pinned.presented.map((key) => `${key.fingerprint} (${key.type})`).join(', ')}, not ${pin}: nothing recorded. Either the fingerprint is mistyped, or this is not the host you set up (a wrong address, or someone in between); ${compare}`,
  };
}
