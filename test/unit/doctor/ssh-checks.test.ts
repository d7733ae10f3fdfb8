// doctor's ssh decisions from what a host said: the filter's (or the login shell's) answers, ssh's
// failure messages, the clock comparison, an unconfined key, a missing sudoers rule.
import { describe, expect, it } from 'vitest';
import type { SshSettings } from '../../../src/remote/ssh-host.js';
import {
  classifyConnectFailure,
  classifyFilterAnswer,
  parseReceiveTime,
  sshChecks,
  type RequestOutcome,
  type SshObservations,
  type SshSubject,
} from '../../../src/doctor/ssh-checks.js';
import { classifySocketError } from '../../../src/doctor/tcp-probe.js';

const outcome = (exitCode: number, stderr = '', stdout = ''): RequestOutcome => ({
  exitCode,
  stdout,
  stderr,
});

const ssh: SshSettings = {
  location: { user: 'snapkeep', host: 'backup.example', port: 22 },
  identityFile: '/root/.ssh/snapkeep',
  strictHostKeyChecking: 'yes',
  options: [],
  sudo: true,
  connectTimeoutSeconds: 10,
  compression: 'none',
};
const subject: SshSubject = { target: 'offsite', path: '/mnt/backup/laptop', ssh, aws: false };

/** A host where everything works, to vary one observation at a time. */
const healthy: SshObservations = {
  tcp: { kind: 'open', ms: 3 },
  identity: { path: '/root/.ssh/snapkeep', exists: true, mode: 0o100600, fingerprint: 'SHA256:abc' },
  hostKey: { name: 'backup.example', files: ['/root/.ssh/known_hosts'], found: true },
  connect: { ok: true },
  resolve: outcome(0, '', '/mnt/backup/laptop\n'),
  foreignCommand: outcome(126, 'snapkeep-target-filter: rejected: not a request snapkeep makes\n'),
  outsideRoots: outcome(126, 'snapkeep-target-filter: rejected: the root directory is not allowed\n'),
  list: outcome(0),
};

const byCheck = (observed: SshObservations) =>
  Object.fromEntries(sshChecks(subject, observed).map((result) => [result.check, result]));

describe('classifyFilterAnswer', () => {
  it('tells a missing forced command from dash and from bash', () => {
    expect(
      classifyFilterAnswer(outcome(127, 'sh: 1: /usr/local/bin/snapkeep-target-filter: not found\n')),
    ).toEqual({
      kind: 'missing',
      path: '/usr/local/bin/snapkeep-target-filter',
    });
    expect(
      classifyFilterAnswer(outcome(127, 'bash: line 1: /opt/filter: No such file or directory\n')),
    ).toEqual({ kind: 'missing', path: '/opt/filter' });
  });

  it('a root that does not exist, a path outside the roots, a non-executable filter, nologin', () => {
    expect(
      classifyFilterAnswer(outcome(2, 'snapkeep-target-filter: --root does not exist: /mnt/backup\n')),
    ).toEqual({
      kind: 'root-missing',
      root: '/mnt/backup',
    });
    expect(
      classifyFilterAnswer(
        outcome(126, 'snapkeep-target-filter: rejected: path outside the allowed roots: /srv\n'),
      ),
    ).toEqual({ kind: 'outside-roots' });
    expect(
      classifyFilterAnswer(outcome(126, 'sh: 1: /usr/local/bin/snapkeep-target-filter: Permission denied\n')),
    ).toEqual({ kind: 'not-executable', path: '/usr/local/bin/snapkeep-target-filter' });
    expect(classifyFilterAnswer(outcome(1, 'This account is currently not available.\n'))).toEqual({
      kind: 'no-shell',
    });
  });

  it('readlink of a missing target (exit 1, silent) is still an answer', () => {
    expect(classifyFilterAnswer(outcome(1))).toEqual({ kind: 'answered' });
    expect(classifyFilterAnswer(outcome(0, '', '/mnt/backup/laptop\n'))).toEqual({ kind: 'answered' });
  });
});

describe('classifyConnectFailure and classifySocketError', () => {
  it('host keys before authentication, refused vs timed out', () => {
    expect(classifyConnectFailure('@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@')).toBe(
      'host-key-changed',
    );
    expect(
      classifyConnectFailure(
        'No ED25519 host key is known for [127.0.0.1]:2222 and you have requested strict checking.',
      ),
    ).toBe('host-key-unknown');
    expect(classifyConnectFailure('skt@127.0.0.1: Permission denied (publickey).')).toBe('permission-denied');
    expect(classifySocketError('ECONNREFUSED', 'connect ECONNREFUSED').kind).toBe('refused');
    expect(classifySocketError('ENOTFOUND', 'getaddrinfo ENOTFOUND').kind).toBe('unresolved');
    expect(classifySocketError('EHOSTUNREACH', 'no route').kind).toBe('unreachable');
  });
});

describe('sshChecks', () => {
  it('a healthy host: all OK; the clock is skipped without a recorded transfer', () => {
    const checks = byCheck(healthy);
    expect(Object.values(checks).map((check) => `${check.check}:${check.status}`)).toEqual([
      'tcp:OK',
      'identity-file:OK',
      'host-key:OK',
      'authentication:OK',
      'filter:OK',
      'forbidden:OK',
      'sudo:OK',
      'clock-skew:SKIP',
    ]);
  });

  it('a key without a forced command runs anything: FAIL with the setup command', () => {
    const checks = byCheck({
      ...healthy,
      foreignCommand: outcome(0, '', 'uid=1001(snapkeep) gid=1001(snapkeep)\n'),
    });
    expect(checks.forbidden?.status).toBe('FAIL');
    expect(checks.forbidden?.cause).toMatch(/not confined/);
    expect(checks.forbidden?.fix?.[0]).toBe(
      'on backup.example, as root: snapkeep remote setup --root /mnt/backup/laptop --user snapkeep --public-key /root/.ssh/snapkeep.pub --install',
    );
  });

  it('sudo asking for a password: FAIL naming the sudoers file', () => {
    const checks = byCheck({ ...healthy, list: outcome(1, 'sudo: a password is required\n') });
    expect(checks.sudo?.status).toBe('FAIL');
    expect(checks.sudo?.fix?.[0]).toContain('/etc/sudoers.d/snapkeep-snapkeep');
  });

  it('a private key others can read: chmod 600', () => {
    const checks = byCheck({
      ...healthy,
      identity: { path: '/root/.ssh/snapkeep', exists: true, mode: 0o100644 },
    });
    expect(checks['identity-file']?.status).toBe('FAIL');
    expect(checks['identity-file']?.fix).toEqual(['chmod 600 /root/.ssh/snapkeep']);
  });

  it('a timeout names the firewall / security group; for AWS also the instance', () => {
    const checks = sshChecks(
      { ...subject, aws: true },
      { tcp: { kind: 'timeout', message: 'no answer within 10 s' } },
    );
    const tcp = checks.find((check) => check.check === 'tcp')!;
    expect(tcp.status).toBe('FAIL');
    expect(tcp.cause).toMatch(/firewall \/ security group drops the packets/);
    expect(tcp.fix?.[0]).toMatch(/snapkeep doctor aws/);
    expect(checks.filter((check) => check.status === 'SKIP').map((check) => check.check)).toEqual([
      'host-key',
      'authentication',
      'filter',
      'forbidden',
      'sudo',
      'clock-skew',
    ]);
  });

  it('clock skew from the newest copy: OK within 60 s, WARN beyond, FAIL beyond 300 s', () => {
    const sample = (receive: string) => ({
      copyPath: '/mnt/backup/laptop/home.20261123T1010',
      recordedAt: '2026-11-23T10:10:30.500Z',
      show: outcome(0, '', `\tReceive transid: \t8\n\tReceive time: \t\t${receive}\n`),
    });
    expect(parseReceiveTime('\tReceive time: \t\t2026-11-23 11:10:30 +0100\n')).toBe(
      Date.parse('2026-11-23T10:10:30Z'),
    );
    expect(byCheck({ ...healthy, receive: sample('2026-11-23 10:10:30 +0000') })['clock-skew']?.status).toBe(
      'OK',
    );
    const warned = byCheck({ ...healthy, receive: sample('2026-11-23 10:12:30 +0000') })['clock-skew'];
    expect(warned?.status).toBe('WARN');
    expect(warned?.detail).toMatch(/^the host's clock is 120 s ahead of this machine's/);
    expect(byCheck({ ...healthy, receive: sample('2026-11-23 10:00:00 +0000') })['clock-skew']?.status).toBe(
      'FAIL',
    );
  });
});
