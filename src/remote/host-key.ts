// The host key of an ssh target: which known_hosts files ssh reads, whether they know the host,
// the fingerprints a host presents, and pinning a key by its fingerprint.
//
// Why pin and not trust on first use: snapkeep connects with StrictHostKeyChecking=yes, and the
// first connection to a new backup host is the one an attacker in the path would answer. The
// admin who runs `remote setup --install` is on the host itself, where its own key files are
// ground truth: setup prints their fingerprints, and `remote verify <target> --host-key
// SHA256:…` records the key the host presents only if it has that fingerprint. Nothing is
// trusted that nobody compared. (`infra apply` trusts on first use, seconds after the instance
// was made, because nobody can reach its console sooner; that trade-off is its own.)
import { createHash } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { runCommand } from '../exec/command.js';
import type { SshSettings } from './ssh-host.js';

export interface HostKeyLookup {
  /** The name ssh looks up: `host`, or `[host]:port` for another port. */
  readonly name: string;
  readonly files: readonly string[];
  readonly found: boolean;
  /** Fingerprints of the keys the files hold for the host. */
  readonly fingerprints?: readonly string[];
}

export interface PresentedKey {
  readonly type: string;
  readonly fingerprint: string;
  /** As ssh-keyscan prints it: a known_hosts line. */
  readonly line: string;
}

export const fingerprintPattern = /^SHA256:[A-Za-z0-9+/]{43}$/;

/** `host`, or `[host]:port` (as ssh and ssh-keyscan write known_hosts). */
export function knownHostsName(ssh: Pick<SshSettings, 'location'>): string {
  const port = ssh.location.port ?? 22;
  return port === 22 ? ssh.location.host : `[${ssh.location.host}]:${port}`;
}

/** What ssh reads: the configured file, else the user's and the system's (the first is written). */
export function knownHostsFiles(ssh: Pick<SshSettings, 'knownHostsFile'>): readonly string[] {
  return ssh.knownHostsFile
    ? [ssh.knownHostsFile]
    : [join(homedir(), '.ssh/known_hosts'), '/etc/ssh/ssh_known_hosts'];
}

/** `ssh-keygen -l`'s SHA256 fingerprint of a base64 key blob. */
export function keyFingerprint(blob: string): string {
  const digest = createHash('sha256').update(Buffer.from(blob, 'base64')).digest('base64');
  return `SHA256:${digest.replace(/=+$/, '')}`;
}

/** The type and fingerprint of a `.pub` or known_hosts line (the key follows its type). */
export function lineFingerprint(line: string): { type: string; fingerprint: string } | undefined {
  const words = line.trim().split(/\s+/);
  const index = words.findIndex((word) => /^(ssh-|ecdsa-sha2-|sk-)/.test(word));
  const blob = index >= 0 ? words[index + 1] : undefined;
  if (!blob || !/^[A-Za-z0-9+/]+=*$/.test(blob)) return undefined;
  return { type: words[index]!, fingerprint: keyFingerprint(blob) };
}

export async function lookUpHostKey(ssh: SshSettings): Promise<HostKeyLookup> {
  const name = knownHostsName(ssh);
  const files = knownHostsFiles(ssh);
  for (const file of files) {
    const result = await runCommand({
      file: 'ssh-keygen',
      args: ['-F', name, '-f', file],
      timeoutMs: 10_000,
    }).catch(() => undefined);
    if (result?.exitCode === 0 && result.stdout.trim() !== '') {
      const fingerprints = result.stdout
        .split('\n')
        .filter((line) => line.trim() !== '' && !line.startsWith('#'))
        .flatMap((line) => lineFingerprint(line)?.fingerprint ?? []);
      return { name, files, found: true, fingerprints };
    }
  }
  return { name, files, found: false };
}

/** The keys the host presents, as ssh-keyscan sees them (nothing is trusted by looking). */
export async function scanHostKeys(
  ssh: SshSettings,
): Promise<{ ok: true; keys: readonly PresentedKey[] } | { ok: false; message: string }> {
  const result = await runCommand({
    file: 'ssh-keyscan',
    args: [
      '-T',
      String(ssh.connectTimeoutSeconds),
      '-p',
      String(ssh.location.port ?? 22),
      '-t',
      'ed25519,ecdsa,rsa',
      '--',
      ssh.location.host,
    ],
    timeoutMs: (ssh.connectTimeoutSeconds + 10) * 1000,
  });
  const keys = result.stdout
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.startsWith('#'))
    .flatMap((line) => {
      const parsed = lineFingerprint(line);
      return parsed ? [{ ...parsed, line: line.trim() }] : [];
    });
  if (keys.length === 0)
    return {
      ok: false,
      message: `ssh-keyscan got no host key from ${knownHostsName(ssh)}${result.stderr.trim() ? `: ${result.stderr.trim().split('\n').at(-1)}` : ''}`,
    };
  return { ok: true, keys };
}

export type PinResult =
  | { readonly kind: 'recorded'; readonly file: string; readonly key: PresentedKey }
  | { readonly kind: 'mismatch'; readonly presented: readonly PresentedKey[] }
  | { readonly kind: 'unreachable'; readonly message: string };

/**
 * Record the host's key in the first known_hosts file ssh reads, if the host presents one with
 * `fingerprint`; anything else is refused (and nothing written).
 */
export async function pinHostKey(ssh: SshSettings, fingerprint: string): Promise<PinResult> {
  const scan = await scanHostKeys(ssh);
  if (!scan.ok) return { kind: 'unreachable', message: scan.message };
  const key = scan.keys.find((presented) => presented.fingerprint === fingerprint);
  if (!key) return { kind: 'mismatch', presented: scan.keys };
  const file = knownHostsFiles(ssh)[0]!;
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const existing = await readFile(file, 'utf8').catch(() => '');
  await appendFile(file, `${existing && !existing.endsWith('\n') ? '\n' : ''}${key.line}\n`, {
    mode: 0o600,
  });
  return { kind: 'recorded', file, key };
}

/** This host's own public host keys, read where sshd loads them (setup runs on the host). */
export async function ownHostKeys(
  sshdConfig: string,
): Promise<readonly { path: string; type: string; fingerprint: string }[]> {
  // `sshd -T` prints the effective configuration (Include, defaults): the HostKey files sshd uses.
  const effective = await runCommand({
    file: 'sshd',
    args: ['-T', '-f', sshdConfig],
    timeoutMs: 10_000,
  }).catch(() => undefined);
  const configured =
    effective?.exitCode === 0
      ? effective.stdout.split('\n').flatMap((line) => /^hostkey (\/\S+)$/i.exec(line.trim())?.[1] ?? [])
      : [];
  const paths =
    configured.length > 0
      ? configured
      : ['ed25519', 'ecdsa', 'rsa'].map((type) => `/etc/ssh/ssh_host_${type}_key`);
  const keys: { path: string; type: string; fingerprint: string }[] = [];
  for (const path of paths) {
    const text = await readFile(`${path}.pub`, 'utf8').catch(() => undefined);
    const parsed = text === undefined ? undefined : lineFingerprint(text);
    if (parsed) keys.push({ path: `${path}.pub`, ...parsed });
  }
  return keys;
}
