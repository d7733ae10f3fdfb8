// The restic client: one binary, its version and what that version can do, and the commands
// snapkeep runs. The repository location and every credential travel in the child's environment
// (RESTIC_REPOSITORY, RESTIC_PASSWORD, backend variables), never on argv; errors are classified
// into what a person can act on (wrong password, no repository, unreachable, locked).
import { createHash } from 'node:crypto';
import {
  registerSecret,
  runCommand,
  runGuardedPipe,
  runPipeline,
  type CommandObserver,
  type CommandResult,
  type CommandSpec,
} from '../exec/command.js';
import { binaryIdentity, cachedProbe } from '../state/probe-cache.js';
import type { ResolvedRepository } from '../config/resolve.js';
import { ExitCode, SnapkeepError, UsageError } from '../errors.js';
import { endpointOf, probe } from './probe.js';
import { resolveSecret } from './secrets.js';

export interface ResticVersion {
  readonly major: number;
  readonly minor: number;
  readonly patch: number;
  readonly text: string;
}

export function parseResticVersion(output: string): ResticVersion | undefined {
  const match = /restic (\d+)\.(\d+)\.(\d+)/.exec(output);
  if (!match) return undefined;
  return {
    major: Number(match[1]),
    minor: Number(match[2]),
    patch: Number(match[3]),
    text: `${match[1]}.${match[2]}.${match[3]}`,
  };
}

/** A cached version: exactly what parsing its own text gives (an entry of another shape is a miss). */
const isResticVersion = (answer: unknown): answer is ResticVersion => {
  const text = (answer as Partial<ResticVersion> | null)?.text;
  const parsed = typeof text === 'string' ? parseResticVersion(`restic ${text}`) : undefined;
  return parsed !== undefined && JSON.stringify(parsed) === JSON.stringify(answer);
};

const atLeast = (version: ResticVersion, minor: number): boolean =>
  version.major > 0 || version.minor >= minor;

/** Failures a person can act on, from restic's exit code (0.17+) or its messages (0.14+). */
export type ResticProblem = 'wrong-password' | 'auth' | 'no-repository' | 'locked' | 'unreachable' | 'other';

/**
 * The server refused the backend credentials (REST basic auth, S3 keys): restic 0.14–0.18 print
 * it as "unable to open config file: … 401 Unauthorized / Is there a repository …?", so it must
 * be told apart before "no repository": it is never a reason to create one.
 */
const authenticationFailed =
  /\b(?:401|403)\b[^\n]*(?:unauthori[sz]ed|forbidden)|unexpected HTTP response \((?:401|403)\)|InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|Access Denied|access key id you provided does not exist/i;

export function classifyResticFailure(result: CommandResult): ResticProblem {
  const text = result.stderr;
  if (result.exitCode === 12 || /wrong password or no key found/i.test(text)) return 'wrong-password';
  if (result.exitCode === 11 || /repository is already locked/i.test(text)) return 'locked';
  if (authenticationFailed.test(text)) return 'auth';
  // Before "no repository": 0.14 says "unable to open config file" for a refused connection too.
  if (
    /connection refused|no such host|i\/o timeout|dial tcp|network is unreachable|x509|TLS handshake|connection reset/i.test(
      text,
    )
  )
    return 'unreachable';
  if (
    result.exitCode === 10 ||
    /unable to open config file|Is there a repository at the following location|repository does not exist/i.test(
      text,
    )
  )
    return 'no-repository';
  return 'other';
}

export class ResticError extends SnapkeepError {
  constructor(
    readonly problem: ResticProblem,
    message: string,
  ) {
    super(
      message,
      problem === 'other'
        ? ExitCode.fatal
        : problem === 'locked'
          ? ExitCode.locked
          : problem === 'wrong-password' || problem === 'auth'
            ? ExitCode.usage // the configured secret is wrong: a configuration error
            : ExitCode.targetUnreachable,
    );
    this.name = 'ResticError';
  }
}

export interface SnapshotInfo {
  readonly id: string;
  /** Set on copies: the id of the snapshot in the repository it was copied from. */
  readonly original?: string;
  readonly short_id?: string;
  readonly time: string;
  readonly paths: readonly string[];
  readonly tags?: readonly string[];
  readonly hostname?: string;
}

/** One file, directory, link … of a snapshot: its original absolute path and restic's node type. */
export interface SnapshotNode {
  readonly path: string;
  /** file, dir, symlink, dev, chardev, fifo, socket */
  readonly type: string;
}

export class Restic {
  private constructor(
    readonly binary: string,
    readonly version: ResticVersion,
  ) {}

  private static readonly detected = new Map<string, Promise<Restic>>();

  /**
   * The restic to use: $SNAPKEEP_RESTIC, else `restic` from PATH; its version is read once per
   * process (a restore inside the drill, a listing after another, all share it).
   */
  static detect(binary = process.env.SNAPKEEP_RESTIC || 'restic'): Promise<Restic> {
    let restic = Restic.detected.get(binary);
    if (!restic) {
      restic = Restic.read(binary);
      Restic.detected.set(binary, restic);
      restic.catch(() => Restic.detected.delete(binary));
    }
    return restic;
  }

  private static async read(binary: string): Promise<Restic> {
    // `restic version` costs ~25 ms before the first real command; the version it reports is
    // cached by binary (probe-cache.ts), so an upgraded restic is asked again.
    const asked = async (): Promise<ResticVersion> => {
      const result = await runCommand({ file: binary, args: ['version'] }).catch((error: unknown) => {
        throw new SnapkeepError(`cannot run restic (${binary}): ${(error as Error).message}`, ExitCode.fatal);
      });
      const version = parseResticVersion(result.stdout);
      if (result.exitCode !== 0 || !version)
        throw new SnapkeepError(`${binary} version did not report a restic version: ${result.stdout.trim()}`);
      return version;
    };
    const version = await cachedProbe(
      // One entry per binary: the tests (and some users) switch between two restic versions.
      `restic-version-${createHash('sha256').update(binary).digest('hex').slice(0, 12)}`,
      await binaryIdentity(binary),
      asked,
      isResticVersion,
    );
    if (version.major === 0 && version.minor < 14)
      throw new SnapkeepError(`restic ${version.text} is too old; snapkeep needs 0.14 or newer`);
    return new Restic(binary, version);
  }

  /** 0.17+: restic runs the producer itself and sees its exit status. */
  get hasStdinFromCommand(): boolean {
    return atLeast(this.version, 17);
  }

  /** 0.18+: a restore in place keeps every name of a hard-linked file (0.14 keeps one). */
  get keepsHardLinksInPlace(): boolean {
    return atLeast(this.version, 18);
  }

  /** The environment that opens `repository`: location, password, backend credentials. */
  async environment(repository: ResolvedRepository): Promise<Record<string, string>> {
    const where = `repositories.${repository.name}`;
    const env: Record<string, string> = {
      RESTIC_REPOSITORY: repository.url,
      RESTIC_PASSWORD: await resolveSecret(repository.password, `${where}.password`),
    };
    for (const [name, reference] of Object.entries(repository.env))
      env[name] = await resolveSecret(
        reference,
        `${where}.env.${name}`,
        !/(?:USER|USERNAME|ACCESS_KEY_ID)$/.test(name),
      );
    // REST credentials: restic before 0.16 reads them only from the URL. The URL travels in the
    // environment too, so putting them there never exposes them on argv (and they are masked).
    const user = env.RESTIC_REST_USERNAME;
    const password = env.RESTIC_REST_PASSWORD;
    if (user !== undefined && password !== undefined && /^rest:https?:\/\//.test(repository.url)) {
      const withCredentials = repository.url.replace(
        /^rest:(https?):\/\//,
        (_match, scheme: string) =>
          `rest:${scheme}://${encodeURIComponent(user)}:${encodeURIComponent(password)}@`,
      );
      registerSecret(withCredentials);
      env.RESTIC_REPOSITORY = withCredentials;
    }
    return env;
  }

  private readonly reachable = new Map<string, Promise<void>>();

  /** Probe a network repository once per run before restic opens it (see probe.ts). */
  private ensureReachable(repository: ResolvedRepository): Promise<void> {
    let checked = this.reachable.get(repository.url);
    if (!checked) {
      const endpoint = endpointOf(repository.url);
      checked = endpoint
        ? probe(endpoint).then((problem) => {
            if (problem)
              throw new ResticError(
                'unreachable',
                `cannot reach repository ${repository.name} (${repository.url}): ${problem}`,
              );
          })
        : Promise.resolve();
      this.reachable.set(repository.url, checked);
    }
    return checked;
  }

  /**
   * Run restic `args` on `repository` (the caller judges the result). A lock left behind by a
   * restic that was killed (SIGKILL, a power loss, a dump that failed and restic did not stop in
   * time) blocks every command that needs an exclusive lock (`check` before 0.16, `prune`,
   * `forget`) until somebody runs `restic unlock`: a backup tool must not stop for good over
   * it. restic calls a lock stale when its process is gone from this host or it is older than
   * 30 minutes, and `unlock` without --remove-all removes only those; so a locked failure is
   * answered with one `unlock` and one retry, and a lock held by a live restic still fails.
   */
  async run(
    repository: ResolvedRepository,
    args: readonly string[],
    input?: string,
    observer?: CommandObserver,
  ): Promise<CommandResult> {
    const spec = await this.spec(repository, args);
    const attempt = (): Promise<CommandResult> =>
      runCommand(input === undefined ? spec : { ...spec, input }, observer);
    const result = await attempt();
    if (result.exitCode === 0 || classifyResticFailure(result) !== 'locked') return result;
    const unlock = await runCommand(await this.spec(repository, ['unlock']));
    return unlock.exitCode === 0 ? attempt() : result;
  }

  private async spec(repository: ResolvedRepository, args: readonly string[]): Promise<CommandSpec> {
    await this.ensureReachable(repository);
    return {
      file: this.binary,
      // --cacert is a path, not a secret (0.14 has no RESTIC_CACERT variable).
      args: [
        ...(repository.cacert ? ['--cacert', repository.cacert] : []),
        ...sftpCommandOption(repository),
        ...args,
      ],
      env: await this.environment(repository),
    };
  }

  /** Run and throw a ResticError that says what to do, unless it exits 0. */
  private async checked(
    repository: ResolvedRepository,
    args: readonly string[],
    what: string,
    observer?: CommandObserver,
  ): Promise<CommandResult> {
    const result = await this.run(repository, args, undefined, observer);
    if (result.exitCode !== 0) throw this.failure(repository, result, what);
    return result;
  }

  failure(repository: ResolvedRepository, result: CommandResult, what: string): ResticError {
    return resticFailure(repository, result, what);
  }

  /** True when the repository exists and opens with its password; throws for other problems. */
  async exists(repository: ResolvedRepository): Promise<boolean> {
    const endpoint = endpointOf(repository.url);
    const problem = endpoint && (await probe(endpoint));
    if (problem)
      throw new ResticError(
        'unreachable',
        `cannot reach repository ${repository.name} (${repository.url}): ${problem}`,
      );
    const result = await runCommand(await this.spec(repository, ['cat', 'config']));
    if (result.exitCode === 0) return true;
    const failure = this.failure(repository, result, 'opening the repository');
    if (failure.problem === 'no-repository') return false;
    throw failure;
  }

  async init(repository: ResolvedRepository, copyChunkerParamsFrom?: ResolvedRepository): Promise<void> {
    const args = ['init'];
    let env: Record<string, string> = {};
    if (copyChunkerParamsFrom) {
      // Offsite copies dedup only with the source's chunker parameters (FACTS.md §2).
      const from = await this.environment(copyChunkerParamsFrom);
      args.push('--copy-chunker-params');
      env = { RESTIC_FROM_REPOSITORY: from.RESTIC_REPOSITORY!, RESTIC_FROM_PASSWORD: from.RESTIC_PASSWORD! };
    }
    const spec = await this.spec(repository, args);
    const result = await runCommand({ ...spec, env: { ...spec.env, ...env } });
    if (result.exitCode !== 0)
      throw this.failure(repository, result, `creating repository ${repository.name}`);
  }

  /** Back up paths; the new snapshot's id. */
  async backupPaths(
    repository: ResolvedRepository,
    paths: readonly string[],
    options: {
      readonly exclude: readonly string[];
      readonly tags: readonly string[];
      readonly onStatus?: (status: BackupStatus) => void;
    },
  ): Promise<BackupSummary> {
    const result = await this.checked(
      repository,
      [
        'backup',
        '--json',
        ...options.tags.flatMap((tag) => ['--tag', tag]),
        ...options.exclude.flatMap((pattern) => ['--exclude', pattern]),
        '--',
        ...paths,
      ],
      `backing up ${paths.join(' ')}`,
      statusObserver(options.onStatus),
    );
    return backupSummaryOf(result.stdout, `backing up ${paths.join(' ')}`);
  }

  /**
   * Back up what `producer` writes, as `filename` in the snapshot. A producer that fails at any
   * point leaves no snapshot: 0.17+ runs it with --stdin-from-command (restic checks its status);
   * older versions get a guarded pipe that interrupts restic before it sees the end of the stream.
   * A producer given as a function is built when it can be (a dump waiting for its snapshot): a
   * guarded pipe starts restic first, which opens the repository meanwhile, and tells the
   * function when restic is ready to read (its first progress line).
   */
  async backupStream(
    repository: ResolvedRepository,
    producerSpec: CommandSpec | ((resticReady: Promise<void>) => Promise<CommandSpec>),
    options: {
      readonly filename: string;
      readonly tags: readonly string[];
      readonly what: string;
      readonly onStatus?: (status: BackupStatus) => void;
    },
  ): Promise<BackupSummary> {
    const common = [
      'backup',
      '--json',
      '--stdin-filename',
      options.filename,
      ...options.tags.flatMap((tag) => ['--tag', tag]),
    ];
    if (this.hasStdinFromCommand) {
      // restic runs the producer itself, so it cannot be ready before the producer is known.
      const producer =
        typeof producerSpec === 'function' ? await producerSpec(Promise.resolve()) : producerSpec;
      // The producer is restic's child and would inherit restic's environment (its password,
      // the backend's keys): `env -u` starts it without what only restic needs.
      const resticOnly = Object.keys(await this.environment(repository)).filter(
        (name) => !(name in (producer.env ?? {})),
      );
      const spec = await this.spec(repository, [
        ...common,
        '--stdin-from-command',
        '--',
        'env',
        ...resticOnly.flatMap((name) => ['-u', name]),
        '--',
        producer.file,
        ...producer.args,
      ]);
      const result = await runCommand(
        { ...spec, env: { ...producer.env, ...spec.env } },
        statusObserver(options.onStatus),
      );
      if (result.exitCode !== 0) {
        const failure = this.failure(repository, result, options.what);
        // restic reports the producer's failure in its own words; keep the producer's stderr too.
        if (failure.problem === 'other')
          throw new SnapkeepError(
            `${options.what} failed: ${lastLines(result.stderr)}; no snapshot was kept`,
          );
        throw failure;
      }
      return backupSummaryOf(result.stdout, options.what);
    }
    const spec = await this.spec(repository, [...common, '--stdin']);
    const { producer: produced, consumer } = await runGuardedPipe(producerSpec, spec, {
      readyLine: /"message_type":"status"/,
      consumer: statusObserver(options.onStatus),
    });
    // restic failing on the repository (missing, wrong password…) kills the producer with SIGPIPE:
    // the repository is the cause to report.
    if (consumer.exitCode !== 0 && consumer.signal === null) {
      const failure = this.failure(repository, consumer, options.what);
      if (failure.problem !== 'other') throw failure;
    }
    if (produced.exitCode !== 0)
      throw new SnapkeepError(
        `${options.what} failed (${produced.signal ? `killed by ${produced.signal}` : `exit ${produced.exitCode}`}): ${lastLines(produced.stderr) || 'no message'}; restic was stopped before the end of the stream, no snapshot was kept`,
      );
    if (consumer.exitCode !== 0) throw this.failure(repository, consumer, options.what);
    return backupSummaryOf(consumer.stdout, options.what);
  }

  /** Copy snapshots from `source` into `repository` (restic copy; copies get new ids, `original` = the source id). */
  async copyFrom(
    repository: ResolvedRepository,
    source: ResolvedRepository,
    snapshotIds: readonly string[],
  ): Promise<void> {
    const from = await this.environment(source);
    const spec = await this.spec(repository, ['copy', ...snapshotIds]);
    const result = await runCommand({
      ...spec,
      env: {
        ...spec.env,
        RESTIC_FROM_REPOSITORY: from.RESTIC_REPOSITORY!,
        RESTIC_FROM_PASSWORD: from.RESTIC_PASSWORD!,
      },
    });
    if (result.exitCode !== 0) throw this.failure(repository, result, `copying to ${repository.name}`);
  }

  /** Back up a small text snapkeep made itself (the permission canary) as `filename`. */
  async backupSmall(
    repository: ResolvedRepository,
    text: string,
    options: { readonly filename: string; readonly tags: readonly string[] },
  ): Promise<BackupSummary> {
    const spec = await this.spec(repository, [
      'backup',
      '--json',
      '--stdin',
      '--stdin-filename',
      options.filename,
      ...options.tags.flatMap((tag) => ['--tag', tag]),
    ]);
    const result = await runCommand({ ...spec, input: text });
    if (result.exitCode !== 0) throw this.failure(repository, result, `writing ${options.filename}`);
    return backupSummaryOf(result.stdout, `writing ${options.filename}`);
  }

  /** Remove snapshots (not their data: that is `prune`). Append-only servers refuse this. */
  async forget(repository: ResolvedRepository, snapshotIds: readonly string[]): Promise<CommandResult> {
    return this.run(repository, ['forget', ...snapshotIds]);
  }

  async prune(repository: ResolvedRepository): Promise<CommandResult> {
    return this.run(repository, ['prune']);
  }

  async snapshots(repository: ResolvedRepository, tags: readonly string[]): Promise<SnapshotInfo[]> {
    const result = await this.checked(
      repository,
      ['snapshots', '--json', ...(tags.length ? ['--tag', tags.join(',')] : [])],
      'listing snapshots',
    );
    // restic writes each snapshot's time in the zone of the machine that made it, to the
    // nanosecond (`…T08:02:37.058742835+01:00`): one format here, UTC `Z` to the millisecond, so
    // times compare as strings across zones and DST and every output says the same.
    return ((JSON.parse(result.stdout || '[]') as SnapshotInfo[] | null) ?? []).map((snapshot) => ({
      ...snapshot,
      time: new Date(snapshot.time).toISOString(),
    }));
  }

  /** Write one file of a snapshot to a consumer's stdin (a database restore). */
  async dumpInto(
    repository: ResolvedRepository,
    snapshotId: string,
    file: string,
    consumer: CommandSpec,
  ): Promise<{ restic: CommandResult; consumer: CommandResult }> {
    const result = await runPipeline([await this.spec(repository, ['dump', snapshotId, file]), consumer]);
    return { restic: result.stages[0]!, consumer: result.stages[1]! };
  }

  async dumpText(repository: ResolvedRepository, snapshotId: string, file: string): Promise<string> {
    return (await this.checked(repository, ['dump', snapshotId, file], `reading ${file}`)).stdout;
  }

  /** Every node of a snapshot at or below `path` (`restic ls --json`, the same lines in 0.14–0.18). */
  async listTree(repository: ResolvedRepository, snapshotId: string, path: string): Promise<SnapshotNode[]> {
    const result = await this.checked(repository, ['ls', '--json', snapshotId], `listing ${path}`);
    const below = path.endsWith('/') ? path : `${path}/`;
    const nodes: SnapshotNode[] = [];
    for (const line of result.stdout.split('\n')) {
      if (!line.startsWith('{')) continue;
      const node = JSON.parse(line) as { struct_type?: string; path?: string; type?: string };
      if (node.struct_type !== 'node' || typeof node.path !== 'string' || typeof node.type !== 'string')
        continue;
      if (node.path === path || node.path.startsWith(below)) nodes.push({ path: node.path, type: node.type });
    }
    return nodes;
  }

  /**
   * Restore the directory `path` of a snapshot under `root`: it lands at root + path (root `/`:
   * its original place). --include rather than `snapshot:subfolder`, which 0.14 lacks.
   */
  async restorePath(
    repository: ResolvedRepository,
    snapshotId: string,
    path: string,
    root: string,
    verify = false,
  ): Promise<void> {
    // --verify reads every restored file back and checks it against the content hashes the
    // backup recorded (what the drill proves; a plain restore trusts the write).
    await this.checked(
      repository,
      ['restore', snapshotId, '--target', root, '--include', path, ...(verify ? ['--verify'] : [])],
      `restoring ${path}`,
    );
  }
}

function lastLines(text: string): string {
  return text.trim().split('\n').filter(Boolean).slice(-3).join(' | ');
}

/** What `restic backup --json` says of the snapshot it made (its summary line). */
export interface BackupSummary {
  readonly snapshotId: string;
  /** Bytes of new data the repository got (restic's data_added: before compression). */
  readonly dataAdded?: number;
  /** Bytes restic read from the source. */
  readonly bytesProcessed?: number;
  readonly filesNew?: number;
  readonly filesChanged?: number;
  readonly filesUnmodified?: number;
}

/** How far a running `restic backup` is (its --json status lines). */
export interface BackupStatus {
  readonly bytesDone: number;
  /** What restic found to read (unknown for a stream on stdin). */
  readonly totalBytes?: number;
  readonly secondsRemaining?: number;
}

/** restic's --json status lines, parsed, for `onStatus`; the other lines are not its business. */
function statusObserver(onStatus?: (status: BackupStatus) => void): CommandObserver {
  if (!onStatus) return {};
  return {
    onStdoutLine(line) {
      if (!line.startsWith('{"message_type":"status"')) return;
      let status: { bytes_done?: unknown; total_bytes?: unknown; seconds_remaining?: unknown };
      try {
        status = JSON.parse(line) as typeof status;
      } catch {
        return;
      }
      const number = (value: unknown): number | undefined =>
        typeof value === 'number' && Number.isFinite(value) ? value : undefined;
      const totalBytes = number(status.total_bytes);
      const secondsRemaining = number(status.seconds_remaining);
      onStatus({
        bytesDone: number(status.bytes_done) ?? 0,
        ...(totalBytes ? { totalBytes } : {}),
        ...(secondsRemaining !== undefined ? { secondsRemaining } : {}),
      });
    },
  };
}

/** The summary line of `restic backup --json` (progress lines before it may be cut). */
export function backupSummaryOf(stdout: string, what: string): BackupSummary {
  for (const line of stdout.split('\n').reverse()) {
    if (!line.startsWith('{')) continue;
    let message: Record<string, unknown>;
    try {
      message = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue; // only the summary matters
    }
    if (message.message_type !== 'summary' || typeof message.snapshot_id !== 'string') continue;
    const renamed = (from: string, to: keyof BackupSummary): Partial<BackupSummary> =>
      typeof message[from] === 'number' ? { [to]: message[from] } : {};
    return {
      snapshotId: message.snapshot_id,
      ...renamed('data_added', 'dataAdded'),
      ...renamed('total_bytes_processed', 'bytesProcessed'),
      ...renamed('files_new', 'filesNew'),
      ...renamed('files_changed', 'filesChanged'),
      ...renamed('files_unmodified', 'filesUnmodified'),
    };
  }
  throw new SnapkeepError(`${what}: restic did not report a snapshot id`);
}

/** What went wrong with a restic command, said so that the user knows what to do (pure). */
export function resticFailure(
  repository: Pick<ResolvedRepository, 'name' | 'url' | 'ssh'>,
  result: CommandResult,
  what: string,
): ResticError {
  const problem = classifyResticFailure(result);
  const lines = result.stderr.trim().split('\n').filter(Boolean);
  // ssh's own reason (restic relays its stderr as "subprocess ssh: …") comes first: it is the
  // cause, and restic's last lines only say the sftp session did not start.
  const sshLines = lines.filter((line) => line.startsWith('subprocess ssh:')).slice(-2);
  let detail = [...new Set([...sshLines, ...lines.slice(-2)])].join(' | ');
  // restic can exit before it has relayed ssh's stderr (seen with 0.18): then say what to try.
  if (sshLines.length === 0 && /unable to start the sftp session/.test(result.stderr)) {
    const command = sftpSshWords(repository)?.join(' ');
    detail += `; ssh ended before the sftp session started and restic relayed no reason (a refused key, an unknown host key or an unreachable host)${command ? `: see what ssh says with: ${command} true` : ''}`;
  }
  const where = `repository ${repository.name} (${repository.url})`;
  const message = {
    'wrong-password': `${what}: wrong password for ${where}; check repositories.${repository.name}.password`,
    auth: `${what}: authentication failed for ${where}: the server refused the credentials (${authenticationDetail(result.stderr)}); check ${credentialKeys(repository)} — the user and its secret — and that this identity is allowed on the server. No repository was created`,
    'no-repository': `${what}: there is no restic repository at ${where}; create it with: snapkeep repo init ${repository.name}`,
    locked: `${what}: ${where} is locked by another restic process: ${detail}`,
    unreachable: `${what}: cannot reach ${where}: ${detail}`,
    other: `${what}: restic failed on ${where}: ${detail || `exit ${result.exitCode ?? result.signal}`}`,
  }[problem];
  return new ResticError(problem, message);
}

/** The line of restic's output that carries the refusal (401 Unauthorized, InvalidAccessKeyId…). */
function authenticationDetail(stderr: string): string {
  if (/InvalidAccessKeyId|access key id you provided does not exist/i.test(stderr))
    return 'the access key id is unknown to the server: InvalidAccessKeyId';
  if (/SignatureDoesNotMatch/i.test(stderr))
    return 'the secret access key does not match the key id: SignatureDoesNotMatch';
  const status = /\b(401|403)\b/.exec(stderr.match(authenticationFailed)?.[0] ?? '')?.[1];
  if (status) return `HTTP ${status} ${status === '401' ? 'Unauthorized' : 'Forbidden'}`;
  return 'access denied';
}

/** Where the backend credentials of a repository are configured. */
function credentialKeys(repository: Pick<ResolvedRepository, 'name' | 'url'>): string {
  const env = `repositories.${repository.name}.env`;
  if (repository.url.startsWith('rest:')) return `${env}.RESTIC_REST_USERNAME and RESTIC_REST_PASSWORD`;
  if (repository.url.startsWith('s3:')) return `${env}.AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`;
  return `the credentials in ${env}`;
}

/**
 * sftp: repositories: restic starts `ssh` itself, and by default with nothing but the host. The
 * command snapkeep gives it carries the top-level `ssh:` settings (key, known_hosts, timeout,
 * options) and BatchMode, so a missing key fails at once instead of prompting under cron. restic
 * splits the command at spaces, hence no spaces inside its words.
 */
export function sftpCommandOption(repository: Pick<ResolvedRepository, 'url' | 'ssh'>): string[] {
  const ssh = sftpSshWords(repository);
  if (!ssh) return [];
  const words = [...ssh, '-s', 'sftp'];
  const spaced = words.find((word) => /\s/.test(word));
  if (spaced)
    throw new UsageError(
      `repository ${repository.url}: the ssh setting ${JSON.stringify(spaced)} contains a space, which restic's sftp.command cannot carry`,
    );
  return ['-o', `sftp.command=${words.join(' ')}`];
}

/** The ssh command line (up to the host) that sftp: repositories connect with, when configured. */
function sftpSshWords(repository: Pick<ResolvedRepository, 'url' | 'ssh'>): string[] | undefined {
  if (!repository.ssh) return undefined;
  const match = /^sftp:(?:\/\/)?(?:([^@/:]+)@)?(\[[^\]]+\]|[^:/]+)(?::(\d+)\/)?/.exec(repository.url);
  if (!match) return undefined;
  const [, user, host, port] = match;
  const ssh = repository.ssh;
  return [
    'ssh',
    '-o',
    'BatchMode=yes',
    '-o',
    `ConnectTimeout=${ssh.connect_timeout ?? 10}`,
    ...(ssh.identity_file ? ['-i', ssh.identity_file] : []),
    ...(ssh.known_hosts
      ? ['-o', `UserKnownHostsFile=${ssh.known_hosts}`, '-o', 'StrictHostKeyChecking=yes']
      : []),
    ...(ssh.options ?? []).flatMap((option) => ['-o', option]),
    ...(port ? ['-p', port] : []),
    user ? `${user}@${host!.replace(/^\[|\]$/g, '')}` : host!.replace(/^\[|\]$/g, ''),
  ];
}
