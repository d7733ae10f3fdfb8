// After apply: the new host must work as a target before it goes into the config. These are
// doctor's ssh and volume checks on the new target, repeated while the instance is still booting
// (cloud-init creates the user, installs the filter and mounts the volume in its first minutes).
import type { CheckResult } from '../doctor/check.js';
import { observeSshTarget, sshChecks } from '../doctor/ssh-checks.js';
import { volumeChecks, volumeObservationsFromSsh } from '../doctor/volume-checks.js';
import { resolveLocation } from '../config/resolve.js';
import type { SshConfig } from '../config/schema.js';
import type { TargetEntry } from './aws-target.js';

/** What the smoke tests report: a retry while the instance boots, then the results. */
export type SmokeTestEvent =
  | {
      /** Checks failed; the instance may still be booting: again in `retrySeconds`. */
      readonly type: 'smoke-retry';
      readonly failing: readonly string[];
      readonly retrySeconds: number;
    }
  | {
      /** The final round, before its checks (`check` events). */
      readonly type: 'smoke-tests';
      readonly ok: boolean;
      readonly failed: readonly string[];
    }
  | ({ readonly type: 'check' } & CheckResult);

export interface SmokeOutcome {
  readonly ok: boolean;
  /** Titles of the failed checks. */
  readonly failed: readonly string[];
}

const retryEverySeconds = 10;

export async function smokeTestTarget(
  name: string,
  target: TargetEntry,
  ssh: SshConfig,
  mountPoint: string,
  waitSeconds: number,
  report: (event: SmokeTestEvent) => void,
): Promise<SmokeOutcome> {
  const location = resolveLocation(target.path, {
    ...ssh,
    identity_file: target.identityFile,
    known_hosts: target.knownHosts,
  });
  if (!location.ssh) throw new Error(`smoke tests need an ssh:// target, got ${target.path}`);
  const deadline = Date.now() + waitSeconds * 1000;
  let results: CheckResult[];
  for (;;) {
    const observed = await observeSshTarget({ name, path: location.path, ssh: location.ssh }, []);
    results = [
      ...sshChecks({ target: name, path: location.path, ssh: location.ssh, aws: true }, observed),
      ...volumeChecks(
        volumeObservationsFromSsh(
          {
            target: name,
            host: location.ssh.location.host,
            path: location.path,
            expectedMountPoint: mountPoint,
            aws: true,
          },
          observed,
        ),
      ),
    ];
    if (
      !results.some((result) => result.status === 'FAIL') ||
      Date.now() + retryEverySeconds * 1000 > deadline
    )
      break;
    report({
      type: 'smoke-retry',
      failing: results.filter((result) => result.status === 'FAIL').map((result) => result.title),
      retrySeconds: retryEverySeconds,
    });
    await new Promise((resolve) => setTimeout(resolve, retryEverySeconds * 1000));
  }
  const failed = results.filter((result) => result.status === 'FAIL').map((result) => result.title);
  report({ type: 'smoke-tests', ok: failed.length === 0, failed });
  for (const result of results) report({ type: 'check', ...result });
  return { ok: failed.length === 0, failed };
}
