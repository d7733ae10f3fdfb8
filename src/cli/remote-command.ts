// `snapkeep remote …`: prepare a backup host for snapkeep's key and check it from this side.
//   remote filter --print           the target filter script (install it on the host)
//   remote setup  --print …         the authorized_keys line and the sudoers rule for a host
//   remote setup  --install …       run ON the host as root: install filter, sudoers, key
//   remote verify <target>          from the client: allowed requests work, forbidden ones fail
import { chmod, mkdir, readFile, writeFile, rename, appendFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline/promises';
import { loadResolvedConfig } from '../config/config-cache.js';
import { ExitCode, UsageError } from '../errors.js';
import { runCommand } from '../exec/command.js';
import { SshHost } from '../remote/ssh-host.js';
import {
  authorizedKeysLine,
  filterCommand,
  filterScript,
  sudoersRule,
  type FilterOptions,
  sudoersFileName,
} from '../remote/remote-setup.js';
import { createOutput } from './output.js';

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
  readonly filterPath: string;
  readonly install: boolean;
  readonly yes: boolean;
  readonly json: boolean;
  /** Where --install writes (tests use a throwaway root; default /). */
  readonly installRoot?: string;
}

export async function runRemoteSetup(options: RemoteSetupOptions): Promise<number> {
  const output = createOutput(options.json);
  if (options.roots.length === 0) throw new UsageError('remote setup needs at least one --root DIR');
  const filter: FilterOptions = {
    roots: options.roots,
    noDelete: options.noDelete,
    noSend: options.noSend,
    noSnapshot: options.noSnapshot,
    noSudo: options.user === 'root',
    logFile: options.log,
    filterPath: options.filterPath,
  };
  let publicKey: string | undefined;
  if (options.publicKey) {
    try {
      publicKey = await readFile(options.publicKey, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read the public key ${options.publicKey}: ${(error as Error).message}`);
    }
  }
  let keyLine: string;
  let sudoers: string | undefined;
  try {
    keyLine = publicKey
      ? authorizedKeysLine(filter, publicKey)
      : `command="${filterCommand(filter)}",restrict <public key>`;
    sudoers = options.user === 'root' ? undefined : sudoersRule({ ...filter, user: options.user });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }

  if (!options.install) {
    output.event('remote-setup', { authorizedKeys: keyLine, sudoers, filterPath: options.filterPath });
    output.text(
      [
        `# 1. On the backup host, install the filter (snapkeep remote filter --print > ${options.filterPath}; chmod 755 it).`,
        `# 2. Append this line to ~${options.user}/.ssh/authorized_keys:`,
        keyLine,
        ...(sudoers
          ? [
              `# 3. Put this rule in /etc/sudoers.d/${sudoersFileName(options.user)} (check it with visudo -cf FILE):`,
              sudoers,
            ]
          : ['# 3. No sudoers rule: the user is root, the filter runs btrfs directly.']),
        '# 4. From the client: snapkeep remote verify <target>',
        '# Or run this command with --install on the backup host, as root.',
      ].join('\n'),
    );
    return ExitCode.ok;
  }

  if (!publicKey)
    throw new UsageError('remote setup --install needs --public-key FILE (the client key .pub)');
  if (process.getuid?.() !== 0 && !options.installRoot)
    throw new UsageError('remote setup --install must run as root on the backup host');
  const root = options.installRoot ?? '/';
  const home = await homeOf(options.user, root);
  const files = {
    filter: join(root, options.filterPath),
    sudoers: join(root, 'etc/sudoers.d', sudoersFileName(options.user)),
    authorizedKeys: join(root, home, '.ssh/authorized_keys'),
  };
  output.text(
    `about to install on this host:\n  ${files.filter} (the filter)\n${sudoers ? `  ${files.sudoers} (sudoers rule)\n` : ''}  ${files.authorizedKeys} (append: ${keyLine.slice(0, 80)}…)`,
  );
  if (!options.yes && !(await confirm('install? [y/N] '))) {
    output.text('nothing installed');
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
  const existing = await readFile(files.authorizedKeys, 'utf8').catch(() => '');
  if (!existing.split('\n').includes(keyLine)) {
    await appendFile(
      files.authorizedKeys,
      `${existing && !existing.endsWith('\n') ? '\n' : ''}${keyLine}\n`,
      { mode: 0o600 },
    );
  }
  await chmod(files.authorizedKeys, 0o600);
  if (root === '/') {
    await runCommand({ file: 'chown', args: ['-R', `${options.user}:`, dirname(files.authorizedKeys)] });
  }
  output.event('remote-installed', files);
  output.text('installed; now run from the client: snapkeep remote verify <target>');
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
}

/** From the client: the connection, the filter's allowed requests, and refusals of forbidden ones. */
export async function runRemoteVerify(options: RemoteVerifyOptions): Promise<number> {
  const output = createOutput(options.json);
  const { resolved } = await loadResolvedConfig(options.config);
  const target = resolved.subvolumes
    .flatMap((subvolume) => subvolume.targets)
    .find((candidate) => candidate.name === options.target);
  if (!target) throw new UsageError(`no subvolume sends to a target named "${options.target}"`);
  if (!target.ssh)
    throw new UsageError(`target ${options.target} is local (${target.path}); nothing to verify over ssh`);
  const host = new SshHost(target.ssh);
  let failures = 0;
  const check = (name: string, ok: boolean, detail: string): void => {
    if (!ok) failures++;
    output.event('check', { name, ok, detail });
    output.text(`${ok ? 'OK  ' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
  };
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
  output.text(failures === 0 ? `${options.target}: ready` : `${options.target}: ${failures} check(s) failed`);
  return failures === 0 ? ExitCode.ok : ExitCode.targetUnreachable;
}
