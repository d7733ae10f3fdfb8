// Executes planned btrfs steps. A receive is verified before it counts (read-only, received UUID
// equal to the snapshot's UUID, parent as planned); a failed one has its partial subvolume
// deleted at once, and the next run's garbage check catches anything a crash left behind.
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runPipeline, type PipeProgress } from '../exec/command.js';
import type { Step } from '../plan/btrfs-plan.js';
import {
  createReadonlySnapshot,
  deleteSubvolumes,
  receiveInto,
  sendSnapshot,
  showSubvolume,
} from './btrfs-commands.js';
import { parseSubvolumeShow, type ShownSubvolume } from './btrfs-parse.js';
import { localHost, type Host } from './inventory.js';

export interface StepOutcome {
  readonly step: Step;
  readonly ok: boolean;
  readonly error?: string;
  readonly durationMs: number;
  readonly bytes?: number;
}

export interface SendProgress extends PipeProgress {
  readonly step: Extract<Step, { kind: 'send' }>;
}

export class StepFailure extends Error {}

export class StepExecutor {
  constructor(
    private readonly host: Host = localHost,
    private readonly onProgress?: (progress: SendProgress) => void,
  ) {}

  async execute(step: Step): Promise<StepOutcome> {
    const startedAt = Date.now();
    try {
      const bytes = await this.perform(step);
      return { step, ok: true, durationMs: Date.now() - startedAt, bytes };
    } catch (error) {
      return {
        step,
        ok: false,
        error: error instanceof Error ? error.message : String(error),
        durationMs: Date.now() - startedAt,
      };
    }
  }

  private async perform(step: Step): Promise<number | undefined> {
    switch (step.kind) {
      case 'create-snapshot':
        await mkdir(dirname(step.path), { recursive: true });
        await this.checked(createReadonlySnapshot(step.source, step.path), `cannot snapshot ${step.source}`);
        return undefined;
      case 'delete-garbage':
      case 'delete-snapshot':
      case 'delete-copy':
        await this.checked(deleteSubvolumes([step.path]), `cannot delete ${step.path}`);
        return undefined;
      case 'send':
        return this.send(step);
    }
  }

  private async checked(spec: Parameters<Host['run']>[0], what: string): Promise<string> {
    const result = await this.host.run(spec);
    if (result.exitCode !== 0)
      throw new StepFailure(`${what}: ${result.stderr.trim() || `exit code ${result.exitCode}`}`);
    return result.stdout;
  }

  private async show(path: string): Promise<ShownSubvolume | undefined> {
    const result = await this.host.run(showSubvolume(path));
    return result.exitCode === 0 ? parseSubvolumeShow(result.stdout) : undefined;
  }

  private async send(step: Extract<Step, { kind: 'send' }>): Promise<number> {
    const copyPath = join(step.targetDirectory, step.name);
    const [snapshot, parentCopy] = await Promise.all([
      this.show(step.snapshotPath),
      step.parent ? this.show(join(step.targetDirectory, step.parent.copyName)) : Promise.resolve(undefined),
    ]);
    if (!snapshot) throw new StepFailure(`snapshot ${step.snapshotPath} is gone`);
    if (step.parent && !parentCopy) {
      throw new StepFailure(`the parent's copy ${join(step.targetDirectory, step.parent.copyName)} is gone`);
    }
    const onProgress = this.onProgress;
    const result = await runPipeline(
      sendSnapshot(step.snapshotPath, step.parent?.path),
      receiveInto(step.targetDirectory),
      {
        // Always sampled: the journal records the stream size, which later runs use for ETAs.
        onProgress: (progress) => onProgress?.({ ...progress, step }),
        progressIntervalMs: 250,
      },
    );
    if (result.producer.exitCode !== 0 || result.consumer.exitCode !== 0) {
      const removed = await this.removePartial(copyPath);
      const stderr = `${result.consumer.stderr}\n${result.producer.stderr}`;
      const cause = /No space left on device/i.test(stderr)
        ? `target ${step.target} is full (No space left on device)`
        : stderr.trim().split('\n').filter(Boolean).slice(-2).join(' | ') ||
          `btrfs send exited ${result.producer.exitCode ?? result.producer.signal}, btrfs receive exited ${result.consumer.exitCode ?? result.consumer.signal}`;
      throw new StepFailure(
        `sending ${step.name} to ${step.target} failed: ${cause}${removed ? `; the partial copy ${copyPath} was deleted` : ''}`,
      );
    }
    const copy = await this.show(copyPath);
    const problem = !copy
      ? 'the received subvolume does not exist'
      : !copy.readonly
        ? 'the received subvolume is not read-only'
        : copy.receivedUuid !== snapshot.uuid
          ? `its received UUID ${copy.receivedUuid ?? '-'} is not the snapshot's UUID ${snapshot.uuid}`
          : parentCopy && copy.parentUuid !== parentCopy.uuid
            ? `its parent UUID ${copy.parentUuid ?? '-'} is not the UUID of ${step.parent?.copyName ?? ''} (${parentCopy.uuid})`
            : undefined;
    if (problem) {
      if (copy) await this.host.run(deleteSubvolumes([copyPath]));
      throw new StepFailure(`verifying ${copyPath} failed: ${problem}; the copy was deleted`);
    }
    return result.bytes;
  }

  /** Delete `path` if an interrupted receive left it (writable or without received UUID). */
  private async removePartial(path: string): Promise<boolean> {
    const partial = await this.show(path);
    if (!partial || (partial.readonly && partial.receivedUuid !== undefined)) return false;
    const result = await this.host.run(deleteSubvolumes([path]));
    return result.exitCode === 0;
  }
}
