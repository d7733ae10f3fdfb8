// A restic sftp: repository on a real sshd (127.0.0.1, its own mount namespace, an sftp-only
// account: ForceCommand internal-sftp, the setup to recommend for a restic host). snapkeep gives
// restic the ssh command with the config's key and known_hosts (restic would otherwise run plain
// `ssh host` with the user's defaults and could prompt under cron), with restic 0.14 and 0.18.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectExit, snapkeep } from '../helpers/cli.js';
import { treeChecksums, writeRandomData } from '../helpers/btrfs-tree.js';
import { makeTempDir } from '../helpers/loop-btrfs.js';
import { startRemoteHost, type RemoteHost } from '../helpers/remote-host.js';
import { resticBinaries, type ResticBinary } from '../helpers/restic-binaries.js';

let host: RemoteHost;
let base: string;
let binaries: ResticBinary[];

beforeAll(async () => {
  binaries = await resticBinaries();
  host = await startRemoteHost({ sftpOnly: true });
  base = await makeTempDir('sftp');
}, 120_000);

afterAll(async () => {
  await host?.stop();
  if (base) await rm(base, { recursive: true, force: true });
});

describe.each([0, 1])('sftp repository with restic #%i', (index) => {
  it('backs up, lists and restores identical files; a key the host refuses fails the set (exit 3) with the reason ssh gave', async () => {
    const binary = binaries[index]!;
    const directory = join(base, `v${binary.version}`);
    const uploads = join(directory, 'uploads');
    await writeRandomData(uploads, 2, 'upload');
    await writeFile(join(directory, 'password'), 'sftp repository password\n', { mode: 0o600 });
    const repositoryPath = join(host.directory, 'home', `repo-${binary.version}`);
    const config = (identity: string): string => `state_dir: ${join(directory, 'state')}
ssh:
  identity_file: ${identity}
  known_hosts: ${host.knownHostsFile}
repositories:
  remote:
    url: sftp://${host.user}@127.0.0.1:${host.port}/${repositoryPath}
    password: file:${join(directory, 'password')}
sources:
  uploads: { type: directory, paths: [${uploads}] }
backup_sets:
  files: { sources: [uploads], repository: remote }
`;
    const configPath = join(directory, 'snapkeep.yaml');
    await writeFile(configPath, config(host.identityFile));
    const env = { SNAPKEEP_RESTIC: binary.path, SNAPKEEP_CACHE_DIR: join(directory, 'cache') };

    const backup = await snapkeep(['backup', '--config', configPath], { env });
    expectExit(backup, 0);
    // The repository really is on the host, written through sftp as the account.
    const config_ = await host.run(['stat', '-c', '%U', join(repositoryPath, 'config')]);
    expect(config_.stdout.trim()).toBe(host.user);

    const restored = join(directory, 'restored');
    const restore = await snapkeep(['restore', 'files', 'latest', '--to', restored, '--config', configPath], {
      env,
    });
    expectExit(restore, 0);
    expect(await treeChecksums(join(restored, uploads))).toEqual(await treeChecksums(uploads));

    // A key the host does not know: BatchMode makes ssh fail instead of asking for a password.
    const strangerKey = join(directory, 'stranger');
    const { runChecked } = await import('../../src/exec/command.js');
    await runChecked({ file: 'ssh-keygen', args: ['-q', '-t', 'ed25519', '-N', '', '-f', strangerKey] });
    await writeFile(configPath, config(strangerKey));
    const refused = await snapkeep(['backup', '--config', configPath], { env });
    expectExit(refused, 3);
    // ssh's reason, as restic relays it; restic sometimes exits before relaying it (a race in
    // restic), and then the message says so and gives the ssh command to see it.
    expect(refused.stderr).toMatch(
      /ERROR: files: .*restic failed on repository remote \(sftp:.*\): (subprocess ssh: .*Permission denied \(publickey\)|.*ssh ended before the sftp session started and restic relayed no reason .*: see what ssh says with: ssh -o BatchMode=yes .* -i \S+stranger .* true)/,
    );
    expect(await readFile(configPath, 'utf8')).toContain(strangerKey);
  }, 180_000);
});
