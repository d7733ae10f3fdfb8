// What deriveStatus reads, gathered once for `status`, `check` and `doctor logs`: the jobs the
// config defines, the journal and the transfer state.
import type { ResolvedConfig } from '../config/resolve.js';
import { deriveStatus, type DerivedStatus, type JobSpec } from './derive-status.js';
import { readJournal } from './journal.js';
import type { RunProbe } from './run-history.js';
import { TransferStateFile } from './transfer-state.js';

/** Every job of the config: each subvolume × target, each backup set × its repository and copies. */
export function jobsOfConfig(config: Pick<ResolvedConfig, 'subvolumes' | 'backupSets'>): JobSpec[] {
  return [
    ...config.subvolumes.flatMap((subvolume) =>
      subvolume.targets.map((target): JobSpec => ({
        kind: 'btrfs',
        subvolume: subvolume.name,
        target: target.name,
      })),
    ),
    ...config.backupSets.flatMap((set): JobSpec[] => [
      { kind: 'restic', set: set.name, repository: set.repository.name, primary: true },
      ...set.offsite.map((repository): JobSpec => ({
        kind: 'restic',
        set: set.name,
        repository: repository.name,
        primary: false,
      })),
    ]),
  ];
}

export interface StatusRequest {
  readonly jobs: readonly JobSpec[];
  readonly now: Date;
  /** A job's stale threshold in hours (its schedule's); undefined: the default. */
  readonly staleHours?: (job: JobSpec) => number | undefined;
  readonly primaryOf?: (set: string) => string | undefined;
  readonly probe?: RunProbe;
}

/** The status and the transfer state it was derived with (status prints both). */
export async function readStatusWithTransfers(
  stateDir: string,
  request: StatusRequest,
): Promise<{ status: DerivedStatus; transfers: TransferStateFile }> {
  const [journal, transfers] = await Promise.all([readJournal(stateDir), TransferStateFile.load(stateDir)]);
  const status = deriveStatus(
    journal,
    (subvolume, target) => transfers.get(subvolume, target),
    { primaryOf: request.primaryOf },
    request.now,
    { jobs: request.jobs, staleHours: request.staleHours, probe: request.probe },
  );
  return { status, transfers };
}

export async function readStatus(stateDir: string, request: StatusRequest): Promise<DerivedStatus> {
  return (await readStatusWithTransfers(stateDir, request)).status;
}
