// doctor's AWS decisions (from plain SDK answers) and journal decisions (last run, failures,
// stale targets), and the exit code of a whole diagnosis.
import { describe, expect, it } from 'vitest';
import { awsChecks, type AwsAnswers, type AwsInputs } from '../../../src/doctor/aws-checks.js';
import { parseAwsOutputs } from '../../../src/doctor/aws-outputs.js';
import { scope, summarize } from '../../../src/doctor/check.js';
import { lastUpToDate, logChecks } from '../../../src/doctor/log-checks.js';
import type { JournalEntry } from '../../../src/state/journal.js';

const inputs: AwsInputs = {
  region: 'eu-central-1',
  instanceId: 'i-1',
  volumeId: 'vol-1',
  source: 'outputs.json',
};
const attached: AwsAnswers = {
  credentials: { ok: true, accessKeyId: 'AKIDEXAMPLE0000' },
  instance: { ok: true, value: { id: 'i-1', state: 'running' } },
  volume: {
    ok: true,
    value: {
      id: 'vol-1',
      state: 'in-use',
      attachments: [{ instanceId: 'i-1', state: 'attached', device: '/dev/sdf' }],
    },
  },
};
const byCheck = (answers: AwsAnswers, given = inputs) =>
  Object.fromEntries(awsChecks(given, answers).map((result) => [result.check, result]));

describe('awsChecks', () => {
  it('running and attached: OK, and no endpoint line without an override', () => {
    expect(awsChecks(inputs, attached).map((result) => `${result.check}:${result.status}`)).toEqual([
      'credentials:OK',
      'instance:OK',
      'volume:OK',
      'attachment:OK',
    ]);
  });

  it('attached to another instance: FAIL naming it', () => {
    const checks = byCheck({
      ...attached,
      volume: {
        ok: true,
        value: { id: 'vol-1', state: 'in-use', attachments: [{ instanceId: 'i-2', state: 'attached' }] },
      },
    });
    expect(checks.attachment?.status).toBe('FAIL');
    expect(checks.attachment?.detail).toBe('attached to i-2, not i-1');
  });

  it('pending warns, terminated fails with infra apply', () => {
    expect(
      byCheck({ ...attached, instance: { ok: true, value: { id: 'i-1', state: 'pending' } } }).instance
        ?.status,
    ).toBe('WARN');
    const terminated = byCheck({
      ...attached,
      instance: { ok: true, value: { id: 'i-1', state: 'terminated' } },
    }).instance;
    expect(terminated?.status).toBe('FAIL');
    expect(terminated?.fix?.[0]).toMatch(/^snapkeep infra apply/);
  });

  it('permission and network errors say what to do', () => {
    const denied = byCheck({
      ...attached,
      instance: {
        ok: false,
        error: { code: 'UnauthorizedOperation', message: 'You are not authorized', network: false },
      },
    }).instance;
    expect(denied?.fix?.[0]).toBe(
      'allow ec2:DescribeInstances and ec2:DescribeVolumes to this identity (IAM policy)',
    );
    const offline = byCheck({
      ...attached,
      volume: { ok: false, error: { code: 'ENOTFOUND', message: 'getaddrinfo ENOTFOUND', network: true } },
    }).volume;
    expect(offline?.detail).toMatch(/^cannot reach the EC2 API at ec2\.eu-central-1\.amazonaws\.com/);
  });

  it('an endpoint override is said, as a warning', () => {
    const checks = byCheck(attached, {
      ...inputs,
      endpoint: 'http://127.0.0.1:4566',
      endpointFrom: 'SNAPKEEP_AWS_ENDPOINT',
    });
    expect(checks.endpoint?.status).toBe('WARN');
    expect(checks.endpoint?.detail).toMatch(/^requests go to http:\/\/127\.0\.0\.1:4566/);
  });

  it('outputs: plain values and terraform output -json wrapping', () => {
    expect(
      parseAwsOutputs('{"region":"eu-central-1","instance_id":{"value":"i-1","type":"string"}}'),
    ).toEqual({
      ok: true,
      value: { region: 'eu-central-1', instanceId: 'i-1' },
    });
    expect(parseAwsOutputs('[1]').ok).toBe(false);
  });
});

const entry = (time: string, event: string, fields: Record<string, unknown> = {}): JournalEntry => ({
  time,
  run: 'r',
  event,
  ...fields,
});
const now = new Date('2026-11-23T12:00:00Z');

describe('logChecks', () => {
  const journal = [
    entry('2026-11-20T10:00:00Z', 'step', { kind: 'send', subvolume: 'home', target: 'usb', ok: true }),
    entry('2026-11-20T10:00:01Z', 'run-end', {
      command: 'run',
      exitCode: 0,
      jobs: [{ subvolume: 'home', status: 'ok' }],
    }),
    // onchange, nothing to send, but a clean run: usb is up to date as of then.
    entry('2026-11-23T08:00:01Z', 'run-end', {
      command: 'run',
      exitCode: 10,
      jobs: [{ subvolume: 'home', target: 'offsite', status: 'unreachable', message: 'connection refused' }],
    }),
    entry('2026-11-23T09:00:00Z', 'step', {
      kind: 'send',
      subvolume: 'home',
      target: 'offsite',
      ok: false,
      error: 'No space left on device',
    }),
  ];

  it('a clean run without a send still confirms a target; a failed target is not confirmed by it', () => {
    expect(lastUpToDate(journal, 'home', 'usb')).toBe('2026-11-23T08:00:01Z');
    // offsite: no line named it before it failed, and no run looked at it (no transfer state): the
    // clean run of 11-20 is not its success (it may not have been configured then).
    expect(lastUpToDate(journal, 'home', 'offsite')).toBeUndefined();
  });

  it('stale targets, the last run and recent failures', () => {
    const results = logChecks({
      journal: [
        entry('2026-11-19T10:00:00Z', 'step', {
          kind: 'send',
          subvolume: 'home',
          target: 'offsite',
          ok: true,
        }),
        ...journal,
      ],
      stateDir: '/var/lib/snapkeep',
      pairs: [
        { subvolume: 'home', target: 'usb' },
        { subvolume: 'home', target: 'offsite' },
      ],
      backupSets: [],
      now,
      staleHours: 26,
      recentHours: 168,
    });
    const status = Object.fromEntries(
      results.map((result) => [`${result.check} ${result.subject ?? ''}`.trim(), result]),
    );
    expect(status['last-run']?.status).toBe('FAIL');
    expect(status['last-run']?.cause).toBe('home → offsite: unreachable: connection refused');
    expect(status['recent-failures']?.status).toBe('WARN');
    expect(status['stale home → usb']?.status).toBe('OK');
    const offsite = status['stale home → offsite'];
    expect(offsite?.status).toBe('FAIL');
    expect(offsite?.detail).toMatch(
      /older than 26 h; last problem 2026-11-23T09:00:00Z: No space left on device$/,
    );
    expect(offsite?.cause).toBe('No space left on device');
  });
});

describe('summarize', () => {
  it('WARN and SKIP exit 0; any FAIL exits 3', () => {
    const checks = scope('prereqs');
    expect(
      summarize([checks.ok('a', 'a', ''), checks.warn('b', 'b', '', 'c', []), checks.skip('c', 'c', '')])
        .exitCode,
    ).toBe(0);
    expect(summarize([checks.ok('a', 'a', ''), checks.fail('b', 'b', '', 'c', [])])).toMatchObject({
      fail: 1,
      exitCode: 3,
    });
  });
});
