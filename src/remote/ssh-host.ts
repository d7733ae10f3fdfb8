// A btrfs host reached over SSH. One connection per host per run: the first command starts an
// OpenSSH master (ControlMaster) on a private socket, every later command — lists, shows,
// receives, deletes, in parallel — opens a channel on it, so a command costs a round trip, not a
// TCP + key exchange + authentication (btrbk pays ~0.37 s for each of its 7 connections per run).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand, type CommandResult, type CommandSpec } from '../exec/command.js';
import { absolutePathProblem } from '../local-path.js';
import type { Host } from './host.js';
import { remoteStreamRequest, type StreamCompression } from './remote-request.js';
import { formatSshUrl, type SshLocation } from './ssh-url.js';

export interface SshSettings {
  readonly location: Omit<SshLocation, 'path'>;
  readonly identityFile?: string;
  readonly knownHostsFile?: string;
  /** `yes` (default): unknown or changed host keys fail; `accept-new` only for first setup. */
  readonly strictHostKeyChecking: 'yes' | 'accept-new';
  readonly cipher?: string;
  /** Extra `-o Key=Value` options. */
  readonly options: readonly string[];
  /** Run btrfs and mkdir through `sudo -n` (needed unless the remote user is root). */
  readonly sudo: boolean;
  readonly connectTimeoutSeconds: number;
  /** Compress send streams with zstd on both ends (slow links). */
  readonly compression: 'none' | 'zstd';
  /** The ssh client binary (tests point it at a wrapper that records argv). */
  readonly sshCommand?: string;
}

/** `mkdir -p` there; the path is checked as btrfs-commands.ts checks every path it puts in argv. */
export function makeDirectory(path: string): CommandSpec {
  const problem = absolutePathProblem(path);
  if (problem) throw new Error(`refusing unsafe path ${JSON.stringify(path)}: it ${problem}`);
  return { file: 'mkdir', args: ['-p', path] };
}

/** The host cannot be reached or refused us; the message says which and what to check. */
export class HostUnreachableError extends Error {}

/** Masters still open, so an interrupt can close them (they are detached from us). */
const openHosts = new Set<SshHost>();

export async function closeAllSshHosts(): Promise<void> {
  await Promise.all([...openHosts].map((host) => host.close()));
}

export function sshHostKey(settings: SshSettings): string {
  const { user, host, port } = settings.location;
  return `${user}@${host}:${port ?? 22}`;
}

export class SshHost implements Host {
  readonly label: string;
  private connecting: Promise<void> | undefined;
  private controlDirectory: string | undefined;

  constructor(readonly settings: SshSettings) {
    this.label = formatSshUrl({ ...settings.location, path: '' }).replace(/^ssh:\/\//, '');
  }

  private get controlPath(): string {
    return join(this.controlDirectory!, 'master');
  }

  private get sshCommand(): string {
    return this.settings.sshCommand ?? 'ssh';
  }

  /** Options shared by the master and every command. */
  private baseOptions(): string[] {
    const { settings } = this;
    const options = [
      '-o',
      'BatchMode=yes',
      '-o',
      `ConnectTimeout=${settings.connectTimeoutSeconds}`,
      '-o',
      `StrictHostKeyChecking=${settings.strictHostKeyChecking}`,
      '-o',
      'ServerAliveInterval=15',
      '-o',
      'ServerAliveCountMax=4',
    ];
    if (settings.location.port !== undefined) options.push('-p', String(settings.location.port));
    if (settings.identityFile) options.push('-i', settings.identityFile, '-o', 'IdentitiesOnly=yes');
    if (settings.knownHostsFile) options.push('-o', `UserKnownHostsFile=${settings.knownHostsFile}`);
    if (settings.cipher) options.push('-c', settings.cipher);
    for (const option of settings.options) options.push('-o', option);
    options.push('-l', settings.location.user);
    return options;
  }

  /** The master connection (`yes`) or a channel on it (`no`). */
  private controlOptions(master: 'yes' | 'no'): string[] {
    return ['-o', `ControlMaster=${master}`, '-o', `ControlPath=${this.controlPath}`];
  }

  private connect(): Promise<void> {
    this.connecting ??= this.startMaster();
    return this.connecting;
  }

  private async startMaster(): Promise<void> {
    this.controlDirectory = await mkdtemp(join(tmpdir(), 'snapkeep-ssh-'));
    const log = join(this.controlDirectory, 'master.log');
    // -f: background once authenticated, so our spawn ends exactly when the connection is up or
    // has failed. -E: its messages go to a file, because the backgrounded master would keep a
    // stderr pipe open. ControlPersist bounds its life if we die without closing it.
    const result = await runCommand({
      file: this.sshCommand,
      args: [
        ...this.baseOptions(),
        ...this.controlOptions('yes'),
        '-o',
        'ControlPersist=120',
        '-E',
        log,
        '-N',
        '-f',
        '--',
        this.settings.location.host,
      ],
      timeoutMs: (this.settings.connectTimeoutSeconds + 10) * 1000,
    });
    if (result.exitCode !== 0) {
      const detail = (await readFile(log, 'utf8').catch(() => '')).trim() || result.stderr.trim();
      await rm(this.controlDirectory, { recursive: true, force: true });
      this.connecting = undefined; // a later command may try again
      throw new HostUnreachableError(`cannot connect to ${this.label}: ${explainSshFailure(detail)}`);
    }
    openHosts.add(this);
  }

  /** The local ssh process that runs `spec` on this host over the master connection. */
  command(spec: CommandSpec, compression?: StreamCompression): CommandSpec {
    if (!this.controlDirectory) throw new Error(`${this.label}: not connected`);
    return {
      file: this.sshCommand,
      args: [
        ...this.baseOptions(),
        ...this.controlOptions('no'),
        '--',
        this.settings.location.host,
        remoteStreamRequest(spec, { sudo: this.settings.sudo, compression }),
      ],
      timeoutMs: spec.timeoutMs,
      input: spec.input,
    };
  }

  /** Like command(), after making sure the connection is up (use before building pipelines). */
  async prepare(spec: CommandSpec, compression?: StreamCompression): Promise<CommandSpec> {
    await this.connect();
    return this.command(spec, compression);
  }

  get compression(): 'none' | 'zstd' {
    return this.settings.compression;
  }

  async run(spec: CommandSpec): Promise<CommandResult> {
    const result = await runCommand(await this.prepare(spec));
    // 255 is ssh's own failure (connection lost), not the remote command's exit code.
    if (result.exitCode === 255 && !result.stdout) {
      throw new HostUnreachableError(
        `lost the connection to ${this.label}: ${explainSshFailure(result.stderr.trim())}`,
      );
    }
    return { ...result, spec };
  }

  /**
   * Resolved paths, one round trip each per run: `exists` and then `mountOf` ask for the same
   * path. Only successes are kept; a path that does not exist yet is asked again after mkdir.
   */
  private readonly resolved = new Map<string, Promise<string>>();

  realpath(path: string): Promise<string> {
    let resolved = this.resolved.get(path);
    if (!resolved) {
      resolved = this.run({ file: 'readlink', args: ['-e', path] }).then((result) => {
        if (result.exitCode !== 0) {
          const error = new Error(`${path} does not exist on ${this.label}`) as NodeJS.ErrnoException;
          error.code = 'ENOENT';
          throw error;
        }
        return result.stdout.trim();
      });
      this.resolved.set(path, resolved);
      resolved.catch(() => this.resolved.delete(path));
    }
    return resolved;
  }

  async exists(path: string): Promise<boolean> {
    try {
      await this.realpath(path);
      return true;
    } catch (error) {
      if (error instanceof HostUnreachableError) throw error;
      return false;
    }
  }

  async makeDirectory(path: string): Promise<void> {
    const result = await this.run(makeDirectory(path));
    if (result.exitCode !== 0)
      throw new Error(`cannot create ${path} on ${this.label}: ${result.stderr.trim()}`);
  }

  async mountinfo(): Promise<string> {
    const result = await this.run({ file: 'cat', args: ['/proc/self/mountinfo'] });
    if (result.exitCode !== 0)
      throw new Error(`cannot read the mounts of ${this.label}: ${result.stderr.trim()}`);
    return result.stdout;
  }

  async close(): Promise<void> {
    openHosts.delete(this);
    const directory = this.controlDirectory;
    if (!directory || !this.connecting) return;
    this.connecting = undefined;
    this.controlDirectory = undefined;
    await runCommand({
      file: this.sshCommand,
      args: [
        '-o',
        `ControlPath=${join(directory, 'master')}`,
        '-O',
        'exit',
        '--',
        this.settings.location.host,
      ],
      timeoutMs: 10_000,
    }).catch(() => undefined);
    await rm(directory, { recursive: true, force: true });
  }
}

/** ssh's last words, with the likely cause and fix for the common failures. */
export function explainSshFailure(detail: string): string {
  const last = detail.split('\n').filter(Boolean).slice(-2).join(' | ') || 'ssh failed without a message';
  if (/Connection refused/i.test(detail)) return `${last} (is sshd running on that host and port?)`;
  if (/timed out|No route to host|Network is unreachable/i.test(detail))
    return `${last} (is the host up and reachable? check firewalls and security groups)`;
  if (/Could not resolve hostname/i.test(detail)) return `${last} (check the host name in the target URL)`;
  if (/Permission denied/i.test(detail))
    return `${last} (the key was refused: check ssh.identity_file and the authorized_keys line on the host — snapkeep remote setup prints it)`;
  if (
    /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No .* host key is known/i.test(
      detail,
    )
  )
    return `${last} (the host key is unknown or changed: snapkeep remote verify <target> --host-key SHA256:… records it, given the fingerprint "remote setup --install" printed on the host; snapkeep doctor ssh says more)`;
  return last;
}
