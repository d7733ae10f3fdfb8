// The shared part of a btrfs-over-ssh test file's world: a real remote host (remote-host.ts) and
// a temp dir for the config and state, stopped and removed by the file's cleanups. The loop
// filesystems and the config each file makes itself.
import { join } from 'node:path';
import type { Cleanups } from './cleanups.js';
import { requireTools } from './loop-btrfs.js';
import { remoteHostTools, startRemoteHost, type RemoteHost } from './remote-host.js';

export interface SshWorld {
  readonly remote: RemoteHost;
  readonly base: string;
  /** `<base>/snapkeep.yaml` (not written yet). */
  readonly configPath: string;
}

/** Check btrfs, the remote host's tools and `moreTools`; start the host; make the temp dir. */
export async function startSshWorld(
  cleanups: Cleanups,
  prefix: string,
  moreTools: readonly string[] = [],
): Promise<SshWorld> {
  await requireTools(['btrfs', 'mkfs.btrfs', ...moreTools, ...remoteHostTools]);
  const remote = await startRemoteHost();
  cleanups.push(() => remote.stop());
  const base = await cleanups.tempDir(prefix);
  return { remote, base, configPath: join(base, 'snapkeep.yaml') };
}
