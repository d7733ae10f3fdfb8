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
