// The message a failed restic command turns into: for sftp repositories, ssh's own reason first,
// and when restic exits before relaying it (a race seen with restic 0.18), the ssh command that
// shows it.
import { describe, expect, it } from 'vitest';
import type { CommandResult } from '../../../src/exec/command.js';
import { resticFailure } from '../../../src/restic/restic.js';

const repository = {
  name: 'remote',
  url: 'sftp://backup@127.0.0.1:2222//srv/repo',
  ssh: { identity_file: '/root/.ssh/backup_key' },
};

function failed(stderr: string): CommandResult {
  return {
    spec: { file: 'restic', args: ['backup'] },
    exitCode: 1,
    signal: null,
    stdout: '',
    stderr,
    durationMs: 5,
  };
}

const sessionFailed =
  'Fatal: unable to open repository at sftp://backup@127.0.0.1:2222//srv/repo: unable to start the sftp session, error: error receiving version packet from server: EOF';

describe('resticFailure', () => {
  it("puts ssh's relayed reason before restic's last lines", () => {
    const error = resticFailure(
      repository,
      failed(`subprocess ssh: backup@127.0.0.1: Permission denied (publickey).\n${sessionFailed}\n`),
      'files: backing up /srv/uploads',
    );
    expect(error.message).toBe(
      `files: backing up /srv/uploads: restic failed on repository remote (${repository.url}): subprocess ssh: backup@127.0.0.1: Permission denied (publickey). | ${sessionFailed}`,
    );
  });

  it('without a relayed reason, names the likely causes and the ssh command that shows the reason', () => {
    const error = resticFailure(repository, failed(`${sessionFailed}\n`), 'files: backing up /srv/uploads');
    expect(error.message).toBe(
      `files: backing up /srv/uploads: restic failed on repository remote (${repository.url}): ${sessionFailed}; ssh ended before the sftp session started and restic relayed no reason (a refused key, an unknown host key or an unreachable host): see what ssh says with: ssh -o BatchMode=yes -o ConnectTimeout=10 -i /root/.ssh/backup_key -p 2222 backup@127.0.0.1 true`,
    );
  });

  it('leaves other failures as restic said them', () => {
    const error = resticFailure(repository, failed('Fatal: some other problem\n'), 'check');
    expect(error.message).toBe(
      `check: restic failed on repository remote (${repository.url}): Fatal: some other problem`,
    );
  });
});

describe('a refused credential', () => {
  const rest = { name: 'offsite', url: 'rest:http://127.0.0.1:8000/' };
  const s3 = { name: 's3', url: 's3:https://127.0.0.1:9000/bucket/repo' };
  // restic's own words, measured against `rclone serve restic --user --pass` and s3rver.
  const cases = [
    [
      '0.14, REST, wrong password',
      rest,
      'Fatal: unable to open config file: unexpected HTTP response (401): 401 Unauthorized\nIs there a repository at the following location?\nrest:http://backup:***@127.0.0.1:8000/\n',
      'HTTP 401 Unauthorized',
    ],
    [
      '0.18, REST, wrong password',
      rest,
      'Stat(<config/>) failed: unexpected HTTP response (401): 401 Unauthorized\nFatal: unable to open config file: unexpected HTTP response (401): 401 Unauthorized\nIs there a repository at the following location?\nrest:http://backup:***@127.0.0.1:8000/\n',
      'HTTP 401 Unauthorized',
    ],
    [
      '0.14, REST, init refused',
      rest,
      'Fatal: create repository at rest:http://backup:***@127.0.0.1:8000/ failed: Fatal: server response unexpected: 401 Unauthorized (401)\n',
      'HTTP 401 Unauthorized',
    ],
    [
      '0.18, REST, init refused',
      rest,
      'Fatal: create repository at rest:http://backup:***@127.0.0.1:8000/ failed: Fatal: unable to open repository at rest:http://backup:***@127.0.0.1:8000/: unexpected HTTP response (401): 401 Unauthorized\n',
      'HTTP 401 Unauthorized',
    ],
    [
      '0.14, S3, unknown key id',
      s3,
      'Fatal: unable to open config file: Stat: The AWS Access Key Id you provided does not exist in our records.\nIs there a repository at the following location?\ns3:https://127.0.0.1:9000/bucket/repo\n',
      'InvalidAccessKeyId',
    ],
  ] as const;
  it.each(cases)(
    '%s: an authentication error (exit 2), never "no repository"',
    (_name, repository, stderr, detail) => {
      const error = resticFailure(repository, failed(stderr), 'opening the repository');
      expect(error.problem).toBe('auth');
      expect(error.exitCode).toBe(2);
      expect(error.message).toContain(`authentication failed for repository ${repository.name}`);
      expect(error.message).toContain(detail);
      expect(error.message).toContain(
        repository === rest
          ? 'check repositories.offsite.env.RESTIC_REST_USERNAME and RESTIC_REST_PASSWORD'
          : 'check repositories.s3.env.AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY',
      );
    },
  );

  it('a repository that is really missing is still "no repository"', () => {
    const error = resticFailure(
      rest,
      failed(
        'Fatal: unable to open config file: <config/> does not exist\nIs there a repository at the following location?\nrest:http://backup:***@127.0.0.1:8000/\n',
      ),
      'opening the repository',
    );
    expect(error.problem).toBe('no-repository');
  });
});
