// doctor's ssh decisions from what a host said: the filter's (or the login shell's) answers, ssh's
// failure messages, the clock (measured with `date -u +%s`, or estimated from a receive time where
// an older filter refuses it), an unconfined key, a missing sudoers rule.
import { describe, expect, it } from 'vitest';
import type { SshSettings } from '../../../src/remote/ssh-host.js';
import {
  classifyConnectFailure,
  classifyFilterAnswer,
  measureSkew,
  parseReceiveTime,
  skewStatus,
  sshChecks,
  type ClockReading,
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
  clock: { sentAt: 1_795_000_000_000, answeredAt: 1_795_000_000_040, answer: outcome(0, '', '1795000000\n') },
};

/** The host answered `seconds` to `date -u +%s`; sent at `sentAt` (ms) here, answered `roundTripMs` later. */
const reading = (seconds: number, sentAt: number, roundTripMs = 40): ClockReading => ({
  sentAt,
  answeredAt: sentAt + roundTripMs,
  answer: outcome(0, '', `${seconds}\n`),
});
/** What a filter from before `date -u +%s` says to it. */
const olderFilterRefuses: ClockReading = {
  sentAt: 1_795_000_000_000,
  answeredAt: 1_795_000_000_040,
  answer: outcome(
    126,
    'snapkeep-target-filter: rejected: forbidden character (only A-Z a-z 0-9 . _ - + @ : = , / space and | are allowed)\n',
  ),
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
  it('a healthy host: all OK, the clock measured', () => {
    const checks = byCheck(healthy);
    expect(Object.values(checks).map((check) => `${check.check}:${check.status}`)).toEqual([
      'tcp:OK',
      'identity-file:OK',
      'host-key:OK',
      'authentication:OK',
      'filter:OK',
      'forbidden:OK',
      'sudo:OK',
      'clock-skew:OK',
    ]);
    expect(checks['clock-skew']?.detail).toBe(
      "the host's clock is 0.5 s ahead of this machine's (±0.5 s; measured with date -u +%s on the host, answered in 40 ms, in whole seconds)",
    );
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

  it('measureSkew: the host against the midpoint of the round trip, ± half of it and half a second', () => {
    // Sent at …000.000, answered at …002.000: the host read its clock in [1795000001, 1795000002).
    expect(measureSkew(reading(1_795_000_001, 1_795_000_000_000, 2000))).toEqual({
      skewMs: 500,
      uncertaintyMs: 1500,
      roundTripMs: 2000,
    });
    expect(measureSkew(reading(1_795_000_000 - 120, 1_795_000_000_000, 0))?.skewMs).toBe(-119_500);
    // Not a number of seconds, or not an answer: no measurement.
    for (const answer of [
      outcome(0, '', 'Sun Nov 23 10:10:30 UTC 2026\n'),
      outcome(0),
      outcome(1, 'date: oops\n'),
    ])
      expect(measureSkew({ sentAt: 0, answeredAt: 10, answer })).toBeUndefined();
  });

  it('skewStatus: WARN beyond 60 s, FAIL beyond 300 s, counting only the certain part', () => {
    expect(skewStatus(59_000, 500)).toBe('OK');
    expect(skewStatus(61_000, 500)).toBe('WARN');
    expect(skewStatus(-61_000, 500)).toBe('WARN');
    expect(skewStatus(61_000, 1500)).toBe('OK');
    expect(skewStatus(300_400, 500)).toBe('WARN');
    expect(skewStatus(-301_000, 500)).toBe('FAIL');
  });

  it('clock skew measured: WARN beyond 60 s, FAIL beyond 300 s, with NTP on the host as the fix', () => {
    const sentAt = 1_795_000_000_000;
    const ahead = byCheck({ ...healthy, clock: reading(1_795_000_000 + 90, sentAt) })['clock-skew'];
    expect(ahead?.status).toBe('WARN');
    expect(ahead?.detail).toMatch(
      /^the host's clock is 90 s ahead of this machine's \(±0\.5 s; measured with date -u \+%s/,
    );
    expect(ahead?.fix?.[0]).toMatch(
      /^on backup\.example: timedatectl set-ntp true {2}\(.*chrony or systemd-timesyncd/,
    );
    expect(ahead?.cause).toMatch(/retention decisions use timestamps/);
    expect(ahead?.cause).toMatch(/TLS/);
    expect(ahead?.cause).toMatch(/SigV4/);
    const behind = byCheck({ ...healthy, clock: reading(1_795_000_000 - 3600, sentAt) })['clock-skew'];
    expect(behind?.status).toBe('FAIL');
    expect(behind?.detail).toMatch(/^the host's clock is 3600 s behind this machine's/);
    expect(behind?.fix).toEqual(ahead?.fix);
    // Within a few seconds: OK, however the seconds fall.
    expect(byCheck({ ...healthy, clock: reading(1_795_000_000 - 3, sentAt) })['clock-skew']?.status).toBe(
      'OK',
    );
    // A slow round trip widens the uncertainty rather than raising an alarm: 71 s ± 16 s is not
    // certainly beyond 60 s.
    const slow = byCheck({ ...healthy, clock: reading(1_795_000_085, sentAt, 30_000) })['clock-skew'];
    expect(slow?.status).toBe('OK');
    expect(slow?.detail).toMatch(
      /^the host's clock is 71 s ahead of this machine's \(±16 s; .*answered in 30000 ms/,
    );
  });

  it('a clock answer that is not a number: SKIP saying what the host said', () => {
    const odd = byCheck({
      ...healthy,
      clock: { sentAt: 0, answeredAt: 10, answer: outcome(127, 'sh: 1: date: not found\n') },
    })['clock-skew'];
    expect(odd?.status).toBe('SKIP');
    expect(odd?.detail).toBe('date -u +%s on the host did not answer: sh: 1: date: not found');
  });

  it('an older filter refuses date: estimated from the newest copy, with the upgrade for a direct measurement', () => {
    const upgrade =
      "upgrading the host's filter gives a direct measurement: on backup.example, as root: snapkeep remote setup --root /mnt/backup/laptop --user snapkeep --public-key /root/.ssh/snapkeep.pub --install";
    const nothing = byCheck({ ...healthy, clock: olderFilterRefuses })['clock-skew'];
    expect(nothing?.status).toBe('SKIP');
    expect(nothing?.detail).toContain('no recorded transfer');
    expect(nothing?.detail).toContain(upgrade);
    const estimated = byCheck({
      ...healthy,
      clock: olderFilterRefuses,
      receive: {
        copyPath: '/mnt/backup/laptop/home.20261123T1010',
        recordedAt: '2026-11-23T10:10:30.500Z',
        show: outcome(0, '', '\tReceive time: \t\t2026-11-23 10:10:29 +0000\n'),
      },
    })['clock-skew'];
    expect(estimated?.status).toBe('OK');
    expect(estimated?.detail).toMatch(/^the host's clock is 1 s behind this machine's \(estimated from /);
    expect(estimated?.detail).toContain(upgrade);
  });

  it('clock skew from the newest copy (older filter): OK within 60 s, WARN beyond, FAIL beyond 300 s', () => {
    const sample = (receive: string) => ({
      copyPath: '/mnt/backup/laptop/home.20261123T1010',
      recordedAt: '2026-11-23T10:10:30.500Z',
      show: outcome(0, '', `\tReceive transid: \t8\n\tReceive time: \t\t${receive}\n`),
    });
    expect(parseReceiveTime('\tReceive time: \t\t2026-11-23 11:10:30 +0100\n')).toBe(
      Date.parse('2026-11-23T10:10:30Z'),
    );
    const older = { ...healthy, clock: olderFilterRefuses };
    expect(byCheck({ ...older, receive: sample('2026-11-23 10:10:30 +0000') })['clock-skew']?.status).toBe(
      'OK',
    );
    const warned = byCheck({ ...older, receive: sample('2026-11-23 10:12:30 +0000') })['clock-skew'];
    expect(warned?.status).toBe('WARN');
    expect(warned?.detail).toMatch(/^the host's clock is 120 s ahead of this machine's/);
    expect(byCheck({ ...older, receive: sample('2026-11-23 10:00:00 +0000') })['clock-skew']?.status).toBe(
      'FAIL',
    );
    // With a filter that answers date, a receive sample is not used.
    expect(byCheck({ ...healthy, receive: sample('2026-11-23 10:00:00 +0000') })['clock-skew']?.status).toBe(
      'OK',
    );
  });
});
