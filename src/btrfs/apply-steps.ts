// Executes planned btrfs steps. A receive is verified before it counts (read-only, received UUID
// equal to the snapshot's UUID, received from a valid parent, and where both ends are here, its
// changed paths equal to the snapshot's: verify-copy.ts); a failed one has what it left at its
// path deleted at once, and the next run's garbage check catches anything a crash left behind.
// Nothing is deleted from a directory a live `btrfs receive` is writing into.
import { basename, dirname, join } from 'node:path';
import {
  prepareFifo,
  runConsumingStdout,
  runFanOut,
  runJoinedByFifo,
  runPipeline,
  type CommandResult,
  type CommandSpec,
  type ConsumedResult,
  type JoinedResult,
  type PipelineOptions,
  type PipeProgress,
} from '../exec/command.js';
import { messageOf } from '../errors.js';
import { streamUuidOf, type Step } from '../plan/btrfs-plan.js';
import {
  createReadonlySnapshot,
  deleteSubvolumes,
  listSubvolumes,
  receiveInto,
  sendMetadataOnly,
  sendSnapshot,
  showSubvolume,
  zstdCompress,
  zstdDecompress,
} from './btrfs-commands.js';
import { parseSubvolumeList, parseSubvolumeShow, type ShownSubvolume } from './btrfs-parse.js';
import type { Host } from '../remote/host.js';
import { Inventory, type WriteLease, localHost, type Subvolume } from './inventory.js';
import { writeLatestPointer, type PointerWrites } from './latest-pointer.js';
import { localSendFeatures } from './send-features.js';
import { readStreamChanges, type StreamChanges } from './send-stream.js';
import { compareChanges } from './verify-copy.js';

export interface StepOutcome {
  readonly step: Step;
  readonly ok: boolean;
  readonly error?: string;
  readonly durationMs: number;
  readonly bytes?: number;
  /** The subvolume a send step made, as `btrfs subvolume show` read it. */
  readonly created?: Subvolume;
  /**
   * The snapshot a create-snapshot step made, read back by `btrfs subvolume show` while the run
   * goes on (its sends need the UUID only to verify their copies); undefined if it could not be.
   */
  readonly pendingCreated?: Promise<Subvolume | undefined>;
}

export interface SendProgress extends PipeProgress {
  readonly step: Extract<Step, { kind: 'send' }>;
}

export class StepFailure extends Error {}

type SendStep = Extract<Step, { kind: 'send' }>;

/** What a step did: stream bytes, the subvolume it made (or is still reading back). */
interface Performed {
  readonly bytes?: number;
  readonly created?: Subvolume;
  readonly pendingCreated?: Promise<Subvolume | undefined>;
}

interface ExpectedUuids {
  readonly streamUuid: string;
  /** The UUID the parent snapshot's stream carries: what a valid clone source was received as. */
  readonly parentStreamUuid?: string;
  /** The UUID of the planned parent's copy on the target, when known (the usual clone source). */
  readonly parentCopyUuid?: string;
}

/**
 * The processes of one transfer: send on the source host, receive on the target host, with zstd
 * on both ends when either host asks for compression (the remote end inside its ssh request).
 */
export async function streamStages(
  sourceHost: Host,
  send: CommandSpec,
  targetHost: Host,
  receive: CommandSpec,
): Promise<CommandSpec[]> {
  const compressed = sourceHost.compression === 'zstd' || targetHost.compression === 'zstd';
  const sending =
    sourceHost === localHost
      ? [send, ...(compressed ? [zstdCompress] : [])]
      : [await sourceHost.prepare(send, compressed ? 'compress-output' : undefined)];
  const receiving =
    targetHost === localHost
      ? [...(compressed ? [zstdDecompress] : []), receive]
      : [await targetHost.prepare(receive, compressed ? 'decompress-input' : undefined)];
  return [...sending, ...receiving];
}

/** Which host a step's side runs on: the subvolume's (source) or a target's. */
export type HostResolver = (place: { readonly subvolume: string; readonly target?: string }) => Host;

export class StepExecutor {
  constructor(
    private readonly hostFor: HostResolver = () => localHost,
    private readonly onProgress?: (progress: SendProgress) => void,
    /** `processes` under `snapshot --deadline` (writeLatestPointer). */
    private readonly pointerWrites: PointerWrites = 'file-calls',
  ) {}

  /** Subvolumes this executor created, by host and path: a later send needs their UUIDs. */
  private readonly created = new Map<string, Promise<Subvolume>>();

  /** What reads back the subvolumes steps make, per host (Inventory.readBack). */
  private readonly readers = new Map<Host, Inventory>();

  private readerOf(host: Host): Inventory {
    let reader = this.readers.get(host);
    if (!reader) {
      reader = new Inventory(host);
      this.readers.set(host, reader);
    }
    return reader;
  }

  /**
   * The subvolume at `path` as listed now (see Inventory.readBack); throws if it cannot be listed.
   * `finishing`: the write that made it (writing), ended once the read-back is queued.
   */
  private readBack(host: Host, path: string, finishing?: WriteLease): Promise<Subvolume | undefined> {
    return this.readerOf(host).readBack(dirname(path), basename(path), finishing);
  }

  /**
   * A receive into `directory` from now until the lease ends (Inventory.startWriting): copies
   * received side by side are read back together. Snapshots are not counted: they end together
   * anyway (one commit), and one on a hung disk must not hold up the read-back of the others.
   */
  private writing(host: Host, directory: string): Promise<WriteLease> {
    return this.readerOf(host).startWriting(directory);
  }

  execute(step: Step): Promise<StepOutcome> {
    return this.outcomeOf(step, Date.now(), () => this.perform(step));
  }

  /** `work`'s result as the step's outcome: failures become messages, made subvolumes known. */
  private async outcomeOf(
    step: Step,
    startedAt: number,
    work: () => Promise<Performed>,
  ): Promise<StepOutcome> {
    try {
      const { bytes, created, pendingCreated } = await work();
      if (created) this.created.set(this.createdKey(step, created.path), Promise.resolve(created));
      return { step, ok: true, durationMs: Date.now() - startedAt, bytes, created, pendingCreated };
    } catch (error) {
      return {
        step,
        ok: false,
        error: messageOf(error),
        durationMs: Date.now() - startedAt,
      };
    }
  }

  private createdKey(step: Step, path: string): string {
    const target =
      step.kind === 'send' ||
      step.kind === 'delete-copy' ||
      step.kind === 'delete-garbage' ||
      step.kind === 'update-latest'
        ? step.target
        : undefined;
    return `${this.hostFor({ subvolume: step.subvolume, target }).label}\u0000${path}`;
  }

  private async perform(step: Step): Promise<Performed> {
    switch (step.kind) {
      case 'create-snapshot': {
        const host = this.hostFor({ subvolume: step.subvolume });
        // Its sends usually follow at once: their FIFO's mkfifo can run alongside the snapshot.
        if (host === localHost) {
          prepareFifo();
          void localSendFeatures();
        }
        // Only when missing: mkdir(2) waits on a frozen filesystem even for a directory that
        // exists, and a local one would wait in a thread that keeps Node from exiting (the
        // pre-sleep `snapshot --deadline` must exit whatever the disk does).
        if (!(await host.exists(dirname(step.path)))) await host.makeDirectory(dirname(step.path));
        await this.checked(
          host,
          createReadonlySnapshot(step.source, step.path),
          `cannot snapshot ${step.source}`,
        );
        // Read back once: the sends need its UUID (after their transfer, to verify the copy) and
        // the prune re-plan its generation. Not waited for here: it runs alongside the sends.
        const shown = this.readBack(host, step.path).then(
          (found) => {
            if (!found) throw new StepFailure(`the new snapshot ${step.path} cannot be read back`);
            return found;
          },
          (error: unknown) => {
            throw new StepFailure(`the new snapshot ${step.path} cannot be read back: ${messageOf(error)}`);
          },
        );
        this.created.set(this.createdKey(step, step.path), shown);
        const pendingCreated = shown.catch(() => undefined);
        return { pendingCreated };
      }
      case 'delete-snapshot':
        await this.checked(
          this.hostFor({ subvolume: step.subvolume }),
          deleteSubvolumes([step.path]),
          `cannot delete ${step.path}`,
        );
        return {};
      case 'delete-garbage': {
        const host = this.hostFor({ subvolume: step.subvolume, target: step.target });
        // Asked again now: the plan saw none, but a receive could have started since.
        const receiving = await liveReceives(host, dirname(step.path));
        if (receiving)
          throw new StepFailure(`not deleting ${step.path}: ${receiving}; run again when it has ended`);
        await this.checked(host, deleteSubvolumes([step.path]), `cannot delete ${step.path}`);
        return {};
      }
      case 'delete-copy':
        await this.checked(
          this.hostFor({ subvolume: step.subvolume, target: step.target }),
          deleteSubvolumes([step.path]),
          `cannot delete ${step.path}`,
        );
        return {};
      case 'send':
        return this.send(step);
      case 'update-latest': {
        // Planned only where the directory is on this machine (observe.ts reads it only there).
        if (this.hostFor({ subvolume: step.subvolume, target: step.target }) !== localHost)
          throw new StepFailure(`the latest pointer ${step.path} is kept only on this machine`);
        await writeLatestPointer(step.path, step.pointsTo, this.pointerWrites);
        return {};
      }
    }
  }

  private async checked(host: Host, spec: CommandSpec, what: string): Promise<string> {
    const result = await host.run(spec);
    if (result.exitCode !== 0)
      throw new StepFailure(`${what}: ${result.stderr.trim() || `exit code ${result.exitCode}`}`);
    return result.stdout;
  }

  private async show(host: Host, path: string): Promise<ShownSubvolume | undefined> {
    const result = await host.run(showSubvolume(path));
    return result.exitCode === 0 ? parseSubvolumeShow(result.stdout) : undefined;
  }

  /** The subvolume at `path` as this run knows it (made by a step) or as read now. */
  private async known(host: Host, path: string): Promise<ShownSubvolume | undefined> {
    return (await this.created.get(`${host.label}\u0000${path}`)) ?? (await this.show(host, path));
  }

  /**
   * What a received copy is checked against: the stream's UUID, the parent snapshot's stream UUID
   * and the UUID of the parent's planned copy.
   */
  private async expectedUuids(step: SendStep): Promise<ExpectedUuids> {
    const parentCopyPath = step.parent ? join(step.targetDirectory, step.parent.copyName) : undefined;
    // Known UUIDs come from the listing the plan was made from (this run holds the lock), so a
    // send normally costs no extra `btrfs subvolume show` before it starts.
    const sourceHost = this.hostFor({ subvolume: step.subvolume });
    const targetHost = this.hostFor({ subvolume: step.subvolume, target: step.target });
    const parent = step.parent;
    const [streamUuid, parentStreamUuid, parentCopyUuid] = await Promise.all([
      step.streamUuid ??
        this.known(sourceHost, step.snapshotPath).then((shown) => shown && streamUuidOf(shown)),
      parent
        ? (parent.streamUuid ??
          this.known(sourceHost, parent.path).then((shown) => shown && streamUuidOf(shown)))
        : undefined,
      parentCopyPath
        ? (parent?.copyUuid ?? this.known(targetHost, parentCopyPath).then((shown) => shown?.uuid))
        : undefined,
    ]);
    if (!streamUuid) throw new StepFailure(`snapshot ${step.snapshotPath} is gone`);
    if (parent && !parentStreamUuid) throw new StepFailure(`the parent snapshot ${parent.path} is gone`);
    return { streamUuid, parentStreamUuid, parentCopyUuid };
  }

  /**
   * What a copy will be checked against, looked up while its stream runs (needed only after it);
   * a failed lookup is reported by the check, never as an unhandled rejection.
   */
  private expectedLater(step: SendStep): Promise<ExpectedUuids> {
    const uuids = this.expectedUuids(step);
    uuids.catch(() => undefined);
    return uuids;
  }

  /** Progress of one stream, reported for each step it carries. */
  private progressOptions(steps: readonly SendStep[], measure: PipelineOptions['measure']): PipelineOptions {
    const onProgress = this.onProgress;
    return {
      // Always sampled: the journal records the stream size, which later runs use for ETAs.
      onProgress: (progress) => {
        for (const step of steps) onProgress?.({ ...progress, step });
      },
      progressIntervalMs: 250,
      measure,
    };
  }

  private async send(step: SendStep): Promise<{ bytes: number; created: Subvolume }> {
    const expected = this.expectedLater(step);
    const sourceHost = this.hostFor({ subvolume: step.subvolume });
    const targetHost = this.hostFor({ subvolume: step.subvolume, target: step.target });
    // Both ends here: send and receive open a FIFO themselves (a kernel pipe, as in a shell),
    // the stream may use what this btrfs-progs can both write and read, and the stream's
    // metadata is read by the send's process after it (one process start fewer).
    const local = sourceHost === localHost && targetHost === localHost;
    const readsChanges = local && !this.changesByStream.has(streamKey(step));
    const pipelineOptions = this.progressOptions(
      [step],
      sourceHost !== localHost && targetHost === localHost ? 'consumer' : 'producer',
    );
    const features = local ? await localSendFeatures() : undefined;
    // Made before the transfer counts as writing: an SSH connection may take its time.
    const stages = local
      ? undefined
      : await streamStages(
          sourceHost,
          sendSnapshot(step.snapshotPath, step.parent?.path),
          targetHost,
          receiveInto(step.targetDirectory),
        );
    const lease = await this.writing(targetHost, step.targetDirectory);
    try {
      const transfer: Promise<JoinedResult<StreamChanges>> = stages
        ? runPipeline(stages, pipelineOptions)
        : runJoinedByFifo(
            (fifo) => [
              sendSnapshot(step.snapshotPath, step.parent?.path, fifo, features),
              receiveInto(step.targetDirectory, fifo),
            ],
            pipelineOptions,
            readsChanges
              ? { spec: sendMetadataOnly(step.snapshotPath, step.parent?.path), consume: readStreamChanges }
              : undefined,
          );
      const result = await transfer;
      if (result.stages.some((stage) => stage.exitCode !== 0)) {
        lease.end();
        throw await this.transferFailure(step, targetHost, result.stages, expected);
      }
      // Known only once this transfer has read them: another send of the stream (to a target on
      // a slower disk) must never wait on this one or inherit its failure. Without them (the
      // follow-up failed) the verification reads them on its own.
      const consumed = result.then?.consumed;
      if (consumed && !this.changesByStream.has(streamKey(step)))
        this.changesByStream.set(streamKey(step), Promise.resolve(consumed));
      return { bytes: result.bytes, created: await this.verifiedCopy(step, targetHost, expected, lease) };
    } finally {
      lease.end();
    }
  }

  /**
   * The same stream (one snapshot, one parent) to several local targets: `btrfs send` runs once
   * and `tee` hands it to one `btrfs receive` per target (runFanOut). Each target still gets its
   * own outcome: one that fails (full, say) fails alone, and every copy is verified on its own.
   */
  async executeFanOut(steps: readonly SendStep[]): Promise<StepOutcome[]> {
    const startedAt = Date.now();
    // A target whose parent copy is gone fails in its own receive; the others go on.
    const expected = steps.map((step) => this.expectedLater(step));
    const first = steps[0]!;
    this.readChangesAlong(first, localHost, localHost);
    const features = await localSendFeatures();
    const leases = await Promise.all(steps.map((step) => this.writing(localHost, step.targetDirectory)));
    let result;
    try {
      result = await runFanOut(
        sendSnapshot(first.snapshotPath, first.parent?.path, undefined, features),
        steps.map((step) => (fifo: string) => receiveInto(step.targetDirectory, fifo)),
        this.progressOptions(steps, 'producer'),
      );
    } catch (error) {
      // Also a throw while its arguments are built: a lease left counted slows every read-back.
      for (const lease of leases) lease.end();
      throw error;
    }
    const streamFailed = result.producer.exitCode !== 0 || result.tee.exitCode !== 0;
    return Promise.all(
      steps.map(async (step, index): Promise<StepOutcome> => {
        const targetHost = this.hostFor({ subvolume: step.subvolume, target: step.target });
        const receive = result.consumers[index]!;
        const lease = leases[index]!;
        return this.outcomeOf(step, startedAt, async () => {
          try {
            if (streamFailed || receive.exitCode !== 0) {
              lease.end();
              throw await this.transferFailure(
                step,
                targetHost,
                [result.producer, result.tee, receive],
                expected[index]!,
              );
            }
            return {
              bytes: result.bytes,
              created: await this.verifiedCopy(step, targetHost, expected[index]!, lease),
            };
          } finally {
            lease.end();
          }
        });
      }),
    );
  }

  /** The error of a failed transfer, after deleting what the receive left behind. */
  private async transferFailure(
    step: SendStep,
    targetHost: Host,
    stages: readonly CommandResult[],
    expected: Promise<ExpectedUuids>,
  ): Promise<StepFailure> {
    const copyPath = join(step.targetDirectory, step.name);
    const streamUuid = await expected.then(
      (uuids) => uuids.streamUuid,
      () => undefined,
    );
    const removal = await this.removePartial(targetHost, copyPath, streamUuid);
    const stderr = [...stages]
      .reverse()
      .map((stage) => stage.stderr)
      .join('\n');
    const exits = stages
      .map((stage) => `${stage.spec.file} exited ${stage.exitCode ?? stage.signal ?? '?'}`)
      .join(', ');
    const cause = /No space left on device/i.test(stderr)
      ? `target ${step.target} is full (No space left on device)`
      : stderr.trim().split('\n').filter(Boolean).slice(-2).join(' | ') || exits;
    return new StepFailure(
      `sending ${step.name} to ${step.target} failed: ${cause}${removal ? `; ${removal}` : ''}`,
    );
  }

  /**
   * The received copy, checked: read-only, received UUID = the stream's, received from a valid
   * parent, and (both ends here) its changed paths equal to the snapshot's. A copy that fails is
   * deleted: later incrementals would be built on it.
   */
  private async verifiedCopy(
    step: SendStep,
    targetHost: Host,
    expectedUuids: Promise<ExpectedUuids>,
    receiving?: WriteLease,
  ): Promise<Subvolume> {
    const copyPath = join(step.targetDirectory, step.name);
    const [copy, expected] = await Promise.all([
      this.readBack(targetHost, copyPath, receiving).catch((error: unknown) => {
        // Not known to be bad: left for the next run to look at, not deleted.
        throw new StepFailure(`the received copy ${copyPath} cannot be read back: ${messageOf(error)}`);
      }),
      expectedUuids.catch((error: unknown) => (error instanceof Error ? error : new Error(String(error)))),
    ]);
    if (expected instanceof Error) {
      // What the copy should be cannot be known: it cannot be trusted either.
      if (copy) await targetHost.run(deleteSubvolumes([copyPath]));
      throw new StepFailure(`${expected.message}${copy ? `; the copy ${copyPath} was deleted` : ''}`);
    }
    const { streamUuid } = expected;
    const problem = !copy
      ? 'the received subvolume does not exist'
      : !copy.readonly
        ? 'the received subvolume is not read-only'
        : copy.receivedUuid !== streamUuid
          ? `its received UUID ${copy.receivedUuid ?? '-'} is not the UUID the stream carried (${streamUuid})`
          : ((await this.parentProblem(step, targetHost, copy, expected)) ??
            (await this.contentProblem(step, targetHost, copyPath)));
    if (problem || !copy) {
      if (copy) await targetHost.run(deleteSubvolumes([copyPath]));
      throw new StepFailure(
        `verifying ${copyPath} failed: ${problem ?? ''}${copy ? '; the copy was deleted' : ''}`,
      );
    }
    return copy;
  }

  /**
   * Why the copy's parent is not a valid clone source, or undefined. `btrfs receive -p` clones
   * from any subvolume on the receiving filesystem whose received UUID is the parent's stream UUID
   * (or, failing that, whose UUID is): with two targets on one filesystem that may be the other
   * target's copy, as valid as the planned one. Only when it is not the planned copy is the
   * filesystem listed again to find what it is.
   */
  private async parentProblem(
    step: SendStep,
    targetHost: Host,
    copy: ShownSubvolume,
    expected: ExpectedUuids,
  ): Promise<string | undefined> {
    const { parentStreamUuid, parentCopyUuid } = expected;
    if (parentStreamUuid === undefined) return undefined; // a full stream
    if (copy.parentUuid === undefined) return 'it has no parent UUID, but the stream was incremental';
    if (copy.parentUuid === parentCopyUuid) return undefined;
    const listed = await targetHost.run(listSubvolumes(step.targetDirectory));
    if (listed.exitCode !== 0)
      return `its parent ${copy.parentUuid} cannot be looked up: ${listed.stderr.trim() || `exit code ${listed.exitCode}`}`;
    const parent = parseSubvolumeList(listed.stdout).find((subvolume) => subvolume.uuid === copy.parentUuid);
    if (parent && (parent.receivedUuid === parentStreamUuid || parent.uuid === parentStreamUuid))
      return undefined;
    return `its parent UUID ${copy.parentUuid} is not a subvolume received from ${step.parent?.name ?? ''} (received UUID ${parentStreamUuid})${parent ? `: it was received from ${parent.receivedUuid ?? '-'}` : ': no such subvolume on the filesystem'}`;
  }

  /** Differences between the copy and its snapshot on the paths the stream changed (verify-copy.ts). */
  private async contentProblem(
    step: SendStep,
    targetHost: Host,
    copyPath: string,
  ): Promise<string | undefined> {
    const sourceHost = this.hostFor({ subvolume: step.subvolume });
    if (sourceHost !== localHost || targetHost !== localHost) return undefined; // see verify-copy.ts
    const changes = await this.streamChanges(step);
    if (typeof changes === 'string') return changes;
    const differences = await compareChanges(step.snapshotPath, copyPath, changes);
    return differences.length > 0
      ? `it does not match ${step.snapshotPath}: ${differences.join('; ')}${step.parent ? ` (its parent copy ${step.parent.copyName} may differ from ${step.parent.name} too)` : ''}`
      : undefined;
  }

  /** Streams' changes by snapshot and parent: the copies of one fanned-out stream share one read. */
  private readonly changesByStream = new Map<string, Promise<StreamChanges | string>>();

  /** What the stream of `step` changes (btrfs send --no-data), or why it cannot be read. */
  private streamChanges(step: SendStep): Promise<StreamChanges | string> {
    const key = streamKey(step);
    let changes = this.changesByStream.get(key);
    if (!changes) {
      changes = runConsumingStdout(
        sendMetadataOnly(step.snapshotPath, step.parent?.path),
        readStreamChanges,
      ).then(changesOrReason);
      this.changesByStream.set(key, changes);
    }
    return changes;
  }

  /**
   * Where the copy will be compared with its snapshot (both ends here, see contentProblem), the
   * stream's metadata is read while the transfer runs: it depends only on the snapshot and its
   * parent (both read-only), and waiting for it after the transfer would put it on the path of
   * every chain.
   */
  private readChangesAlong(step: SendStep, sourceHost: Host, targetHost: Host): void {
    if (sourceHost === localHost && targetHost === localHost) this.streamChanges(step).catch(() => undefined);
  }

  /**
   * After a failed transfer, delete what is at the path it received into: a partial subvolume, or
   * one that looks complete (read-only, the stream's received UUID) but was never verified — a
   * second receive writing the same path can stamp it so. Never one received from another stream
   * or an original snapshot (read-only, no received UUID: not made by a receive), and nothing
   * while a live receive writes into that directory. Says what it did or why not.
   */
  private async removePartial(
    host: Host,
    path: string,
    streamUuid: string | undefined,
  ): Promise<string | undefined> {
    const left = await this.show(host, path).catch(() => undefined);
    if (!left) return undefined;
    const ours = !left.readonly || (left.receivedUuid !== undefined && left.receivedUuid === streamUuid);
    if (!ours) return undefined;
    const receiving = await liveReceives(host, dirname(path));
    if (receiving)
      return `the copy ${path} was left: ${receiving}; the next run deletes it once that has ended`;
    const result = await host.run(deleteSubvolumes([path]));
    return result.exitCode === 0
      ? `the ${left.readonly ? 'unverified' : 'partial'} copy ${path} was deleted`
      : `the partial copy ${path} could not be deleted: ${result.stderr.trim()}`;
  }
}

/** "a btrfs receive (pid N) is still writing into DIR", or undefined (also where it cannot be seen). */
export async function liveReceives(host: Host, directory: string): Promise<string | undefined> {
  const pids = (await host.receivesInto?.(directory)) ?? [];
  return pids.length === 0
    ? undefined
    : `a btrfs receive (pid ${pids.join(', ')}) is still writing into ${directory}`;
}

/** The key of a stream: its snapshot and parent (StepExecutor.changesByStream). */
function streamKey(step: SendStep): string {
  return `${step.snapshotPath}\u0000${step.parent?.path ?? ''}`;
}

/** A metadata read's changes, or why they cannot be compared. */
function changesOrReason({ result, consumed }: ConsumedResult<StreamChanges>): StreamChanges | string {
  return result.exitCode !== 0 || consumed === undefined
    ? `its stream's metadata cannot be read to compare it: ${result.stderr.trim() || `${result.spec.file} exited ${result.exitCode ?? result.signal ?? '?'}`}`
    : consumed;
}
