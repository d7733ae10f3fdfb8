// Small per-(subvolume, target) memory between runs: the last snapshot sent (so pruning can keep
// an unreachable target's parent) and the last stream sizes (for progress ETAs).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface TransferRecord {
  lastSent?: string;
  lastSentAt?: string;
  lastFullBytes?: number;
  lastIncrementalBytes?: number;
  /**
   * Received UUIDs of the copies on the target that are this subvolume's (plan/btrfs-plan.ts
   * attributeCopies): they stay its own after their snapshots are pruned, so target retention
   * keeps working on them while copies another subvolume sent under the same name are left alone.
   */
  ownCopies?: string[];
}

type TransferState = Record<string, Record<string, TransferRecord>>;

export class TransferStateFile {
  private constructor(
    private readonly path: string,
    private readonly state: TransferState,
  ) {}

  static async load(stateDir: string): Promise<TransferStateFile> {
    const path = join(stateDir, 'transfers.json');
    try {
      return new TransferStateFile(path, JSON.parse(await readFile(path, 'utf8')) as TransferState);
    } catch {
      return new TransferStateFile(path, {});
    }
  }

  get(subvolume: string, target: string): TransferRecord {
    return this.state[subvolume]?.[target] ?? {};
  }

  update(subvolume: string, target: string, change: TransferRecord): void {
    const bySubvolume = (this.state[subvolume] ??= {});
    bySubvolume[target] = { ...bySubvolume[target], ...change };
  }

  async save(): Promise<void> {
    await mkdir(join(this.path, '..'), { recursive: true });
    const temporary = `${this.path}.${process.pid}.tmp`;
    await writeFile(temporary, `${JSON.stringify(this.state, null, 2)}\n`);
    await rename(temporary, this.path); // atomic: a crash never leaves half a file
  }
}
