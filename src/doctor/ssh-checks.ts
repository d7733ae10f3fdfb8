// `doctor ssh`: for each ssh:// target, the chain a transfer depends on, link by link — TCP port,
// private key, host key, authentication, the forced-command filter, refusal of what the filter
// must refuse, btrfs through sudo, and the clock on the other side (`date -u +%s` between two
// readings of this machine's clock). observeSshTarget() asks (one SSH connection through
// snapkeep's own SshHost, only requests the filter's grammar allows, never a change); sshChecks()
// decides, purely, from what was observed.
import { stat } from 'node:fs/promises';
import { Inventory, isInterruptedReceive } from '../btrfs/inventory.js';
import type { Host } from '../remote/host.js';
import { parseSnapshotName } from '../snapshot-name.js';
import { runCommand, type CommandResult } from '../exec/command.js';
import type { ResolvedTarget } from '../config/resolve.js';
import type { JournalEntry } from '../state/journal.js';
import { HostUnreachableError, SshHost, type SshSettings } from '../remote/ssh-host.js';
import { lookUpHostKey, type HostKeyLookup } from '../remote/host-key.js';
import { defaultFilterPath } from '../remote/remote-setup.js';
import { lastLines, scope, type CheckResult } from './check.js';
import { probeTcp, type TcpProbe } from './tcp-probe.js';

/** What a remote request returned (the parts a decision needs). */
export interface RequestOutcome {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface IdentityFileState {
  readonly path: string;
  readonly exists: boolean;
  /** Permission bits. */
  readonly mode?: number;
  /** `ssh-keygen -l` of the key, to say which key was refused. */
  readonly fingerprint?: string;
}

export type { HostKeyLookup } from '../remote/host-key.js';

/**
 * The host's clock: the filter's one request outside the path alphabet (`%`), a fixed string
 * that nothing from input is put into.
 */
export const clockRequest = 'date -u +%s';

/** `date -u +%s` on the host, between two readings of this machine's clock. */
export interface ClockReading {
  /** This machine's clock (epoch ms) just before the request went out… */
  readonly sentAt: number;
  /** …and just after the answer came back. */
  readonly answeredAt: number;
  readonly answer: RequestOutcome;
}

/**
 * The newest copy on the target whose receive the journal recorded: the clock estimate for a
 * host whose (older) filter refuses `date -u +%s`.
 */
export interface ReceiveSample {
  readonly copyPath: string;
  /** When this machine recorded the send as done (ISO). */
  readonly recordedAt: string;
  /** `btrfs subvolume show` of the copy on the host (has its Receive time, by the host's clock). */
  readonly show: RequestOutcome;
}

export interface SshObservations {
  readonly tcp: TcpProbe;
  readonly identity?: IdentityFileState;
  readonly hostKey?: HostKeyLookup;
  /** Absent when the TCP probe failed (ssh was not tried). */
  readonly connect?: { readonly ok: true } | { readonly ok: false; readonly message: string };
  /** `readlink -e <target>`: the first request; the filter's answer to it. */
  readonly resolve?: RequestOutcome;
  /** `id`: outside the grammar, must be refused. */
  readonly foreignCommand?: RequestOutcome;
  /** `btrfs subvolume list -r /`: outside the roots, must be refused. */
  readonly outsideRoots?: RequestOutcome;
  /** `btrfs subvolume list -r <target>`: btrfs through sudo. */
  readonly list?: RequestOutcome;
  readonly mountinfo?: RequestOutcome;
  readonly usage?: RequestOutcome;
  /** Subvolumes directly in the target directory (for interrupted-receive garbage). */
  readonly subvolumes?:
    | { readonly ok: true; readonly garbage: readonly string[]; readonly copies: number }
    | { readonly ok: false; readonly message: string };
  /** `date -u +%s` (absent when the filter does not answer). */
  readonly clock?: ClockReading;
  /** Only when the filter refused `date -u +%s`: the receive-time estimate instead. */
  readonly receive?: ReceiveSample;
}

/** Who and where, for messages and fix commands. */
export interface SshSubject {
  readonly target: string;
  readonly path: string;
  readonly ssh: SshSettings;
  /** The target is the AWS host of `snapkeep infra` (its outputs name this host). */
  readonly aws: boolean;
}

export function hostLabel(ssh: SshSettings): string {
  const { user, host, port } = ssh.location;
  return `${user}@${host}:${port ?? 22}`;
}

const portOf = (ssh: SshSettings): number => ssh.location.port ?? 22;

// --- pure: classifying what the host said -------------------------------------------------------

export type ConnectProblem =
  'host-key-unknown' | 'host-key-changed' | 'permission-denied' | 'refused' | 'timeout' | 'other';

export function classifyConnectFailure(message: string): ConnectProblem {
  if (/REMOTE HOST IDENTIFICATION HAS CHANGED|host key for .* has changed/i.test(message))
    return 'host-key-changed';
  if (/Host key verification failed|No .* host key is known/i.test(message)) return 'host-key-unknown';
  if (/Permission denied|Too many authentication failures/i.test(message)) return 'permission-denied';
  if (/Connection refused/i.test(message)) return 'refused';
  if (/timed out/i.test(message)) return 'timeout';
  return 'other';
}

export type FilterAnswer =
  | { readonly kind: 'answered' }
  | { readonly kind: 'missing'; readonly path?: string }
  | { readonly kind: 'not-executable'; readonly path?: string }
  | { readonly kind: 'root-missing'; readonly root: string }
  | { readonly kind: 'outside-roots' }
  | { readonly kind: 'rejected'; readonly reason: string }
  | { readonly kind: 'no-shell' }
  | { readonly kind: 'filter-error'; readonly message: string }
  | { readonly kind: 'other'; readonly message: string };

/** The filter's (or the login shell's) answer to `readlink -e <target>`. */
export function classifyFilterAnswer(outcome: RequestOutcome): FilterAnswer {
  const { exitCode, stderr } = outcome;
  const shellSays =
    /(\/[^\s:]+): (?:\d+: )?(?:[^:]+: )?(not found|No such file or directory|Permission denied)/.exec(stderr);
  if (exitCode === 127) return { kind: 'missing', path: shellSays?.[1] };
  const rootMissing = /--root does not exist: (\S+)/.exec(stderr);
  if (rootMissing) return { kind: 'root-missing', root: rootMissing[1]! };
  if (/rejected: path outside the allowed roots/.test(stderr)) return { kind: 'outside-roots' };
  const rejected = /snapkeep-target-filter: rejected: (.*)/.exec(stderr);
  if (rejected) return { kind: 'rejected', reason: rejected[1]!.trim() };
  if (exitCode === 126 && shellSays?.[2] === 'Permission denied')
    return { kind: 'not-executable', path: shellSays[1] };
  if (/This account is currently not available|nologin/i.test(stderr)) return { kind: 'no-shell' };
  const filterError = /snapkeep-target-filter: (.*)/.exec(stderr);
  if (filterError) return { kind: 'filter-error', message: filterError[1]!.trim() };
  // readlink -e of a missing path exits 1 and says nothing; that is an answer too.
  if (exitCode === 0 || (exitCode === 1 && stderr.trim() === '')) return { kind: 'answered' };
  return { kind: 'other', message: lastLines(stderr) || `exit ${exitCode ?? 'signal'}` };
}

const refusedByFilter = (outcome: RequestOutcome): boolean =>
  outcome.exitCode === 126 && /snapkeep-target-filter: rejected/.test(outcome.stderr);

/** Skew beyond which a warning (60 s) and a failure (300 s: AWS rejects signed requests). */
export const skewWarnSeconds = 60;
export const skewFailSeconds = 300;

/** The host's clock, measured: how far ahead of this machine (negative: behind) and how exactly. */
export interface SkewMeasurement {
  readonly skewMs: number;
  /** The skew is within ±this of skewMs. */
  readonly uncertaintyMs: number;
  readonly roundTripMs: number;
}

/**
 * `date -u +%s` against this machine's clock: the host read its clock somewhere between sentAt
 * and answeredAt, so it is compared with the midpoint, give or take half the round trip — plus
 * half a second, because `+%s` truncates to whole seconds (the host's clock was in [s, s + 1)).
 * Undefined when the answer is not a number of seconds.
 */
export function measureSkew(reading: ClockReading): SkewMeasurement | undefined {
  if (reading.answer.exitCode !== 0) return undefined;
  const match = /^(\d{1,12})\n?$/.exec(reading.answer.stdout);
  if (!match) return undefined;
  const roundTripMs = Math.max(0, reading.answeredAt - reading.sentAt);
  const midpoint = reading.sentAt + roundTripMs / 2;
  return {
    skewMs: Number(match[1]) * 1000 + 500 - midpoint,
    uncertaintyMs: roundTripMs / 2 + 500,
    roundTripMs,
  };
}

/**
 * OK, WARN beyond skewWarnSeconds, FAIL beyond skewFailSeconds — counting only the skew that is
 * certain (|skew| less its uncertainty), so a slow round trip alone never raises an alarm.
 */
export function skewStatus(skewMs: number, uncertaintyMs: number): 'OK' | 'WARN' | 'FAIL' {
  const certain = Math.max(0, Math.abs(skewMs) - uncertaintyMs);
  if (certain > skewFailSeconds * 1000) return 'FAIL';
  if (certain > skewWarnSeconds * 1000) return 'WARN';
  return 'OK';
}

/** `Receive time: 2026-11-23 15:44:18 +0000` → epoch ms, or undefined. */
export function parseReceiveTime(showOutput: string): number | undefined {
  const match = /Receive time:\s+(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) ([+-]\d\d)(\d\d)/.exec(showOutput);
  if (!match) return undefined;
  const parsed = Date.parse(`${match[1]}T${match[2]}${match[3]}:${match[4]}`);
  return Number.isNaN(parsed) ? undefined : parsed;
}

// --- pure: the checks -------------------------------------------------------------------------

/**
 * The steps that install snapkeep's key confined to the target (run on the host, as root). Run
 * again, it replaces the key's line (keeping its filter path), so this advice converges.
 */
export function setupCommand(subject: SshSubject, filterPath = defaultFilterPath): string {
  const key = subject.ssh.identityFile ? `${subject.ssh.identityFile}.pub` : '<your key>.pub';
  const where = filterPath === defaultFilterPath ? '' : ` --filter-path ${filterPath}`;
  return `snapkeep remote setup --root ${subject.path} --user ${subject.ssh.location.user} --public-key ${key}${where} --install`;
}

export function connectionFixes(subject: SshSubject, probe: TcpProbe): { cause: string; fix: string[] } {
  const { host } = subject.ssh.location;
  const port = portOf(subject.ssh);
  const aws = subject.aws
    ? ['snapkeep doctor aws  (is the instance running? a stopped and started instance gets a new public IP)']
    : [];
  switch (probe.kind) {
    case 'refused':
      return {
        cause: `${host} answered but nothing accepts connections on port ${port}: sshd is not running there, listens on another port, or a firewall rejects the connection`,
        fix: [
          `on ${host}: systemctl start ssh && systemctl enable ssh  (systemctl status ssh shows why it stopped)`,
          `check the port in the target URL (ssh://${subject.ssh.location.user}@${host}:PORT${subject.path})`,
          ...aws,
        ],
      };
    case 'timeout':
      return {
        cause: `nothing answered on ${host}:${port}: the host is down or unreachable, or a firewall / security group drops the packets`,
        fix: [
          ...aws,
          `allow inbound TCP ${port} from this machine's public address in the host's firewall${subject.aws ? ' and the instance security group (snapkeep infra apply after updating the allowed addresses)' : ' or cloud security group'}`,
          `check the host is up: ping ${host}`,
        ],
      };
    case 'unresolved':
      return {
        cause: `the host name ${host} does not resolve`,
        fix: [
          `check the host in the target URL${subject.aws ? " (the AWS outputs' host: snapkeep infra apply refreshes it)" : ''}`,
          `getent hosts ${host}`,
        ],
      };
    case 'unreachable':
      return {
        cause: `there is no route to ${host}: this machine's network, a VPN, or the host's network is down`,
        fix: [`ip route get ${host}`, ...aws],
      };
    default:
      return {
        cause: `connecting to ${host}:${port} failed`,
        fix: [`ssh -v -p ${port} ${subject.ssh.location.user}@${host}`],
      };
  }
}

export function sshChecks(subject: SshSubject, observed: SshObservations): CheckResult[] {
  const checks = scope('ssh', subject.target);
  const results: CheckResult[] = [];
  const { user, host } = subject.ssh.location;
  const port = portOf(subject.ssh);
  const label = hostLabel(subject.ssh);

  // TCP
  const tcp = observed.tcp;
  if (tcp.kind === 'open') {
    results.push(checks.ok('tcp', 'port reachable', `${host}:${port} accepts connections (${tcp.ms} ms)`));
  } else {
    const { cause, fix } = connectionFixes(subject, tcp);
    const what =
      tcp.kind === 'refused'
        ? 'connection refused'
        : tcp.kind === 'timeout'
          ? `timed out (${tcp.message})`
          : tcp.message;
    results.push(checks.fail('tcp', 'port reachable', `${host}:${port}: ${what}`, cause, fix));
  }

  // The private key
  const identity = observed.identity;
  if (!identity) {
    results.push(checks.ok('identity-file', 'private key', "ssh's default keys (no ssh.identity_file set)"));
  } else if (!identity.exists) {
    results.push(
      checks.fail(
        'identity-file',
        'private key',
        `${identity.path} does not exist`,
        'ssh.identity_file names a key file that is not there',
        [
          `ssh-keygen -t ed25519 -N '' -f ${identity.path}  (a new key; then install its .pub on the host)`,
          `on ${host}, as root: ${setupCommand(subject)}`,
          'or set ssh.identity_file to the key that is installed on the host',
        ],
      ),
    );
  } else if (identity.mode !== undefined && (identity.mode & 0o077) !== 0) {
    results.push(
      checks.fail(
        'identity-file',
        'private key',
        `${identity.path} is readable by others (mode ${(identity.mode & 0o777).toString(8)})`,
        'ssh refuses a private key that other users can read ("UNPROTECTED PRIVATE KEY FILE")',
        [`chmod 600 ${identity.path}`],
      ),
    );
  } else {
    results.push(
      checks.ok(
        'identity-file',
        'private key',
        `${identity.path}${identity.fingerprint ? ` (${identity.fingerprint})` : ''}`,
      ),
    );
  }

  const connectProblem =
    observed.connect?.ok === false ? classifyConnectFailure(observed.connect.message) : undefined;
  const knownHosts = observed.hostKey?.files.join(', ') ?? subject.ssh.knownHostsFile ?? '~/.ssh/known_hosts';
  const knownHostsFile = subject.ssh.knownHostsFile ?? '~/.ssh/known_hosts';
  const scanName = port === 22 ? host : `[${host}]:${port}`;

  // Host key
  if (connectProblem === 'host-key-changed') {
    results.push(
      checks.fail(
        'host-key',
        'host key',
        `${scanName} presented a different key than ${knownHosts} holds`,
        'the host was rebuilt or re-installed (a new AWS instance has new host keys) — or someone is intercepting the connection',
        [
          `if the host was rebuilt: ssh-keygen -R '${scanName}' -f ${knownHostsFile}`,
          `then add the new key: ssh-keyscan -p ${port} -t ed25519 ${host} >> ${knownHostsFile}, after comparing its fingerprint (ssh-keygen -lf ${knownHostsFile}) with the host's own (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on its console${subject.aws ? '; aws ec2 get-console-output prints it at first boot' : ''})`,
        ],
      ),
    );
  } else if (observed.hostKey && !observed.hostKey.found) {
    results.push(
      checks.fail(
        'host-key',
        'host key',
        `no key for ${observed.hostKey.name} in ${knownHosts}`,
        'snapkeep connects with StrictHostKeyChecking=yes: an unknown host is refused rather than trusted blindly',
        [
          `snapkeep remote verify ${subject.target} --host-key SHA256:…  (the fingerprint \`remote setup --install\` printed on the host, or ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on its console${subject.aws ? '; aws ec2 get-console-output prints it at first boot' : ''}: records the key only if the host presents that one)`,
          `or by hand: ssh-keyscan -p ${port} -t ed25519 ${host} >> ${knownHostsFile}, and before trusting it, compare ssh-keygen -lf ${knownHostsFile} with that fingerprint`,
          ...(subject.ssh.knownHostsFile ? [] : ['or set ssh.known_hosts to a file that holds it']),
        ],
      ),
    );
  } else if (observed.hostKey) {
    results.push(checks.ok('host-key', 'host key', `${observed.hostKey.name} is in ${knownHosts}`));
  } else {
    results.push(checks.skip('host-key', 'host key', 'not checked: the port is not reachable'));
  }

  // Authentication
  const keyName = identity
    ? `${identity.path}${identity.fingerprint ? ` (${identity.fingerprint})` : ''}`
    : "ssh's default keys";
  if (!observed.connect) {
    results.push(checks.skip('authentication', 'authentication', 'not tried: the port is not reachable'));
  } else if (observed.connect.ok) {
    results.push(checks.ok('authentication', 'authentication', `logged in as ${user} with ${keyName}`));
  } else if (connectProblem === 'host-key-changed' || connectProblem === 'host-key-unknown') {
    results.push(
      checks.skip(
        'authentication',
        'authentication',
        'not tried: the host key is not trusted (see host key)',
      ),
    );
  } else if (connectProblem === 'permission-denied') {
    results.push(
      checks.fail(
        'authentication',
        'authentication',
        `${label} refused ${keyName}: ${lastLines(observed.connect.message.replace(/^cannot connect to \S+: /, ''), 1)}`,
        `the host does not accept this key for ${user}: its public half is not on an authorized_keys line of ${user} (or the user does not exist, or snapkeep uses another key than the one installed)`,
        [
          identity
            ? `ssh-keygen -y -f ${identity.path}  (prints this key's public half, to compare with the host's authorized_keys)`
            : 'set ssh.identity_file to the key installed on the host',
          `on ${host}, as root: ${setupCommand(subject)}  (or append the line \`snapkeep remote setup\` prints to ~${user}/.ssh/authorized_keys)`,
          'or point ssh.identity_file at the key that is installed there',
        ],
      ),
    );
  } else {
    const probe: TcpProbe =
      connectProblem === 'refused'
        ? { kind: 'refused', message: observed.connect.message }
        : connectProblem === 'timeout'
          ? { kind: 'timeout', message: observed.connect.message }
          : { kind: 'error', message: observed.connect.message };
    const { cause, fix } = connectionFixes(subject, probe);
    results.push(checks.fail('authentication', 'authentication', observed.connect.message, cause, fix));
  }

  // The filter
  const answer = observed.resolve ? classifyFilterAnswer(observed.resolve) : undefined;
  results.push(filterCheck(subject, answer));

  // What the filter must refuse
  if (!observed.foreignCommand || !observed.outsideRoots || !answerWorks(answer)) {
    results.push(
      checks.skip('forbidden', 'forbidden requests refused', 'not tried: the filter does not answer'),
    );
  } else if (!refusedByFilter(observed.foreignCommand)) {
    results.push(
      checks.fail(
        'forbidden',
        'forbidden requests refused',
        `\`id\` ran on the host (exit ${observed.foreignCommand.exitCode ?? 'signal'}${observed.foreignCommand.stdout ? `: ${lastLines(observed.foreignCommand.stdout, 1)}` : ''})`,
        `the key is not confined: its authorized_keys line has no command="…snapkeep-target-filter …" (anyone holding the key can run anything as ${user})`,
        [
          `on ${host}, as root: ${setupCommand(subject)}`,
          `and remove the key's old, unconfined line from ~${user}/.ssh/authorized_keys`,
        ],
      ),
    );
  } else if (!refusedByFilter(observed.outsideRoots)) {
    results.push(
      checks.fail(
        'forbidden',
        'forbidden requests refused',
        `btrfs subvolume list -r / was not refused (exit ${observed.outsideRoots.exitCode ?? 'signal'})`,
        'the filter allows a root of "/" or was changed: it should confine requests to the backup directory',
        [`on ${host}, as root: ${setupCommand(subject)}`],
      ),
    );
  } else {
    results.push(
      checks.ok(
        'forbidden',
        'forbidden requests refused',
        'a command outside the grammar and a path outside the roots were refused',
      ),
    );
  }

  // btrfs through sudo
  const list = observed.list;
  if (!list) {
    results.push(
      checks.skip(
        'sudo',
        'btrfs through sudo',
        answerWorks(answer)
          ? 'not tried: the target directory does not exist'
          : 'not tried: the filter does not answer',
      ),
    );
  } else if (list.exitCode === 0) {
    results.push(
      checks.ok(
        'sudo',
        'btrfs through sudo',
        subject.ssh.sudo ? `sudo -n btrfs works for ${user}` : 'btrfs runs (no sudo: the user is root)',
      ),
    );
  } else if (/sudo:/.test(list.stderr)) {
    results.push(
      checks.fail(
        'sudo',
        'btrfs through sudo',
        lastLines(list.stderr, 1),
        `${user} may not run btrfs through sudo without a password: the sudoers rule snapkeep needs is missing or does not cover ${subject.path}`,
        [
          `on ${host}, as root: ${setupCommand(subject)}  (writes /etc/sudoers.d/snapkeep-${user.replace(/\./g, '_')})`,
          `or put the rule \`snapkeep remote setup --root ${subject.path} --user ${user}\` prints there and check it with visudo -cf FILE`,
        ],
      ),
    );
  } else {
    // btrfs itself ran (so sudo works) and complained: a volume problem, reported there.
    results.push(
      checks.ok(
        'sudo',
        'btrfs through sudo',
        `btrfs ran (it said: ${lastLines(list.stderr, 1)} — see the volume checks)`,
      ),
    );
  }

  if (!answerWorks(answer))
    results.push(checks.skip('clock-skew', 'clock skew', 'not tried: the filter does not answer'));
  else results.push(clockCheck(subject, observed));
  return results;
}

const answerWorks = (answer: FilterAnswer | undefined): boolean => answer?.kind === 'answered';

function filterCheck(subject: SshSubject, answer: FilterAnswer | undefined): CheckResult {
  const checks = scope('ssh', subject.target);
  const title = 'target filter answers';
  const { host } = subject.ssh.location;
  const { user } = subject.ssh.location;
  if (!answer) return checks.skip('filter', title, 'not tried: no connection');
  switch (answer.kind) {
    case 'answered':
      return checks.ok('filter', title, `answered readlink -e ${subject.path}`);
    case 'missing': {
      const path = answer.path ?? defaultFilterPath;
      return checks.fail(
        'filter',
        title,
        `the forced command ${path} does not exist on ${host} (exit 127)`,
        `the authorized_keys line of ${user} forces snapkeep's target filter, but the filter file is missing (deleted, or never installed at that path)`,
        [
          `on ${host}, as root: ${setupCommand(subject, path)}  (installs the filter at ${path})`,
          `or copy it there from this machine: snapkeep remote filter --print > snapkeep-target-filter, then on ${host}: install -m 755 snapkeep-target-filter ${path}`,
        ],
      );
    }
    case 'not-executable': {
      const path = answer.path ?? defaultFilterPath;
      return checks.fail(
        'filter',
        title,
        `${path} is not executable on ${host}`,
        'the filter file lost its execute permission',
        [`on ${host}: chmod 755 ${path}`],
      );
    }
    case 'root-missing':
      // A FAIL here too: `doctor ssh` alone must not pass a host that refuses every request.
      return checks.fail(
        'filter',
        title,
        `the filter runs, but its root ${answer.root} does not exist, so it refuses every request`,
        'the backup volume (which holds the root) is probably not mounted',
        [
          `on ${host}: mount the backup volume so that ${answer.root} exists (snapkeep doctor volume prints the commands)`,
        ],
      );
    case 'outside-roots':
      return checks.fail(
        'filter',
        title,
        `the filter refused ${subject.path}: it is outside the directories the key may touch`,
        "the target's path is not under any --root of the filter's authorized_keys line",
        [
          `on ${host}, as root: ${setupCommand(subject)}  (replaces the key's line: add a --root for every other directory it must still reach)`,
          "or change the target path to a directory under the filter's root",
        ],
      );
    case 'rejected':
      return checks.fail(
        'filter',
        title,
        `the filter rejected readlink: ${answer.reason}`,
        'an older or modified filter is installed',
        [`on ${host}, as root: ${setupCommand(subject)}  (installs this version's filter)`],
      );
    case 'no-shell':
      return checks.fail(
        'filter',
        title,
        `${user}'s login shell refuses to run commands`,
        `sshd runs the forced command through the user's shell, and ${user} has nologin/false`,
        [`on ${host}: usermod -s /bin/sh ${user}  (the filter still confines what the key can do)`],
      );
    case 'filter-error':
      return checks.fail(
        'filter',
        title,
        `the filter could not start: ${answer.message}`,
        "the forced command's options in authorized_keys are wrong",
        [`on ${host}, as root: ${setupCommand(subject)}`],
      );
    default:
      return checks.fail(
        'filter',
        title,
        answer.message,
        'the host answered in a way snapkeep does not recognise',
        [`ssh -v -p ${portOf(subject.ssh)} ${user}@${host} readlink -e ${subject.path}`],
      );
  }
}

/** Seconds for a detail: tenths below 10 s, whole seconds above. */
const seconds = (ms: number): string => {
  const value = Math.abs(ms) / 1000;
  return value < 10 ? value.toFixed(1) : String(Math.round(value));
};

function clockCheck(subject: SshSubject, observed: SshObservations): CheckResult {
  const checks = scope('ssh', subject.target);
  const title = 'clock skew';
  const { host } = subject.ssh.location;
  const fix = [
    `on ${host}: timedatectl set-ntp true  (keeps the clock synchronised through chrony or systemd-timesyncd; install one if it says "NTP not supported")`,
    `or here, if this machine's clock is the wrong one: timedatectl set-ntp true`,
    `check with: timedatectl status  ("System clock synchronized: yes", on ${host} and here)`,
  ];
  const cause =
    'one of the two clocks is not synchronised (NTP off or blocked), and that matters: retention decisions use timestamps (snapshot names, the clock of the machine that prunes), so a wrong clock keeps or deletes the wrong copies; TLS certificates look not yet valid or expired, and AWS rejects SigV4-signed requests more than 5 minutes off';
  const decide = (skewMs: number, uncertaintyMs: number, detail: string): CheckResult => {
    const status = skewStatus(skewMs, uncertaintyMs);
    if (status === 'FAIL') return checks.fail('clock-skew', title, detail, cause, fix);
    if (status === 'WARN') return checks.warn('clock-skew', title, detail, cause, fix);
    return checks.ok('clock-skew', title, detail);
  };
  const direction = (skewMs: number): string => (skewMs >= 0 ? 'ahead of' : 'behind');

  const reading = observed.clock;
  if (!reading) return checks.skip('clock-skew', title, "not measured: the host's clock was not read");
  if (!refusedByFilter(reading.answer)) {
    const measured = measureSkew(reading);
    if (!measured) {
      const said =
        lastLines(reading.answer.stderr, 1) ||
        (reading.answer.exitCode === 0
          ? `not a number of seconds: ${JSON.stringify(lastLines(reading.answer.stdout, 1))}`
          : `exit ${reading.answer.exitCode ?? 'signal'}`);
      return checks.skip('clock-skew', title, `${clockRequest} on the host did not answer: ${said}`);
    }
    const { skewMs, uncertaintyMs, roundTripMs } = measured;
    return decide(
      skewMs,
      uncertaintyMs,
      `the host's clock is ${seconds(skewMs)} s ${direction(skewMs)} this machine's (±${seconds(uncertaintyMs)} s; measured with ${clockRequest} on the host, answered in ${Math.round(roundTripMs)} ms, in whole seconds)`,
    );
  }

  // An older filter: no request reads the clock, so the newest copy's receive time stands in.
  const upgrade = `upgrading the host's filter gives a direct measurement: on ${host}, as root: ${setupCommand(subject)}`;
  const sample = observed.receive;
  if (!sample) {
    return checks.skip(
      'clock-skew',
      title,
      `the host's filter is older and refuses ${clockRequest}, and there is no recorded transfer to estimate the skew from; ${upgrade}`,
    );
  }
  const receivedAt = sample.show.exitCode === 0 ? parseReceiveTime(sample.show.stdout) : undefined;
  if (receivedAt === undefined) {
    return checks.skip(
      'clock-skew',
      title,
      `cannot read the receive time of ${sample.copyPath}: ${lastLines(sample.show.stderr, 1) || 'no Receive time field'}; ${upgrade}`,
    );
  }
  // The host stamps the copy when its receive ends; this machine records the send just after.
  // With equal clocks the host's stamp is at most a few seconds earlier.
  const skewMs = Math.round((receivedAt - Date.parse(sample.recordedAt)) / 1000) * 1000;
  return decide(
    skewMs,
    2000,
    `the host's clock is ${Math.abs(skewMs / 1000)} s ${direction(skewMs)} this machine's (estimated from ${sample.copyPath}: received ${new Date(receivedAt).toISOString()} by the host's clock, recorded ${sample.recordedAt} here; ±2 s — the host's filter is older and refuses ${clockRequest}; ${upgrade})`,
  );
}

// --- effects: observing ------------------------------------------------------------------------

async function identityState(path: string): Promise<IdentityFileState> {
  const info = await stat(path).catch(() => undefined);
  if (!info) return { path, exists: false };
  const fingerprint = await runCommand({ file: 'ssh-keygen', args: ['-l', '-f', path], timeoutMs: 10_000 })
    .then((result) => (result.exitCode === 0 ? /(SHA256:\S+)/.exec(result.stdout)?.[1] : undefined))
    .catch(() => undefined);
  return { path, exists: true, mode: info.mode, fingerprint };
}

const outcomeOf = (result: CommandResult): RequestOutcome => ({
  exitCode: result.exitCode,
  stdout: result.stdout,
  stderr: result.stderr,
});

/** The newest successful sends to `target` the journal recorded, newest first. */
export function recordedSends(
  journal: readonly JournalEntry[],
  target: string,
): { copyPath: string; recordedAt: string }[] {
  const sends: { copyPath: string; recordedAt: string }[] = [];
  for (const entry of journal) {
    if (entry.event !== 'step' || entry.kind !== 'send' || entry.ok !== true || entry.target !== target)
      continue;
    if (typeof entry.targetDirectory !== 'string' || typeof entry.name !== 'string') continue;
    sends.push({ copyPath: `${entry.targetDirectory}/${entry.name}`, recordedAt: entry.time });
  }
  return sends.reverse();
}

/**
 * Everything the ssh and volume checks need from one target, over one connection. Only requests
 * the target filter accepts; nothing is changed. Later requests are skipped when an earlier link
 * is broken, so a dead host costs one TCP timeout, not one per check.
 */
export async function observeSshTarget(
  target: Pick<ResolvedTarget, 'name' | 'path'> & { readonly ssh: SshSettings },
  journal: readonly JournalEntry[],
): Promise<SshObservations> {
  const ssh = target.ssh;
  const [tcp, identity] = await Promise.all([
    probeTcp(ssh.location.host, portOf(ssh), ssh.connectTimeoutSeconds * 1000),
    ssh.identityFile ? identityState(ssh.identityFile) : Promise.resolve(undefined),
  ]);
  if (tcp.kind !== 'open') return { tcp, identity };
  const hostKey = await lookUpHostKey(ssh);
  const host = new SshHost(ssh);
  const run = async (file: string, args: string[]): Promise<RequestOutcome> =>
    outcomeOf(await host.run({ file, args, timeoutMs: 60_000 }));
  try {
    let resolve: RequestOutcome;
    try {
      resolve = await run('readlink', ['-e', target.path]);
    } catch (error) {
      if (error instanceof HostUnreachableError)
        return { tcp, identity, hostKey, connect: { ok: false, message: error.message } };
      throw error;
    }
    const connect = { ok: true } as const;
    const base = { tcp, identity, hostKey, connect, resolve };
    const answer = classifyFilterAnswer(resolve);
    if (answer.kind !== 'answered') return base;
    const exists = resolve.exitCode === 0;
    // Alone on the connection, so the round trip (the measurement's uncertainty) stays short.
    const clock = await readClock(host);
    const [foreignCommand, outsideRoots, mountinfo, list, usage] = await Promise.all([
      run('id', []),
      run('btrfs', ['subvolume', 'list', '-r', '/']),
      run('cat', ['/proc/self/mountinfo']),
      exists ? run('btrfs', ['subvolume', 'list', '-r', target.path]) : undefined,
      exists ? run('btrfs', ['filesystem', 'usage', '-b', target.path]) : undefined,
    ]);
    let subvolumes: SshObservations['subvolumes'];
    let receive: ReceiveSample | undefined;
    if (exists) subvolumes = await listTargetSubvolumes(host, target.path);
    if (exists && refusedByFilter(clock.answer)) {
      // An older filter refuses `date`: the newest recorded copy that is still there (retention
      // may have deleted older ones) has a receive time by the host's clock.
      for (const send of recordedSends(journal, target.name).slice(0, 3)) {
        const show = await run('btrfs', ['subvolume', 'show', send.copyPath]).catch(() => undefined);
        if (show?.exitCode === 0) {
          receive = { ...send, show };
          break;
        }
      }
    }
    return { ...base, foreignCommand, outsideRoots, mountinfo, list, usage, subvolumes, clock, receive };
  } finally {
    await host.close();
  }
}

/** `date -u +%s` on the host, timed by this machine's clock. */
async function readClock(host: SshHost): Promise<ClockReading> {
  const sentAt = Date.now();
  const result = await host.run({ file: 'date', args: ['-u', '+%s'], timeoutMs: 30_000 });
  const answeredAt = Date.now();
  return { sentAt, answeredAt, answer: outcomeOf(result) };
}

/** Copies and interrupted-receive garbage directly in the target directory (as the engine sees them). */
export async function listTargetSubvolumes(
  host: Host,
  path: string,
): Promise<NonNullable<SshObservations['subvolumes']>> {
  try {
    const subvolumes = (await new Inventory(host).subvolumesIn(path)).filter(
      (subvolume) => parseSnapshotName(subvolume.name) !== undefined,
    );
    // The engine's rule (btrfs/observe.ts).
    const garbage = subvolumes.filter(isInterruptedReceive);
    return {
      ok: true,
      garbage: garbage.map((subvolume) => subvolume.name),
      copies: subvolumes.length - garbage.length,
    };
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
}
