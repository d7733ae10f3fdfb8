// Where commands run: this machine (btrfs/inventory.ts's localHost) or a host over SSH
// (ssh-host.ts). Here, below both, so btrfs/ and remote/ can name it without importing each other.
import type { CommandResult, CommandSpec } from '../exec/command.js';
import type { StreamCompression } from './remote-request.js';

/** Where commands run: this machine, or a host over SSH (remote/ssh-host.ts). */
export interface Host {
  readonly label: string;
  /**
   * The local process that runs `spec` there, once the host is ready. With `compression`, the
   * remote end compresses what `spec` writes or decompresses what it reads (remote hosts only).
   */
  prepare(spec: CommandSpec, compression?: StreamCompression): Promise<CommandSpec>;
  /** zstd on streams to and from this host (set per SSH host; never for this machine). */
  readonly compression: 'none' | 'zstd';
  run(spec: CommandSpec): Promise<CommandResult>;
  realpath(path: string): Promise<string>;
  exists(path: string): Promise<boolean>;
  /** mkdir -p */
  makeDirectory(path: string): Promise<void>;
  mountinfo(): Promise<string>;
  /**
   * Which of these subvolume paths are read-only, asked of the kernel without a process; undefined
   * when it cannot tell for one of them (then `btrfs subvolume list -r` answers). Only where the
   * paths are local.
   */
  readonly readonlyAmong?: (paths: readonly string[]) => Set<string> | undefined;
  /**
   * The pids of live `btrfs receive` processes writing into `directory`; only where the host's
   * processes can be seen (this machine). On an SSH host a receive reads the ssh channel and ends
   * at its EOF once snapkeep's ssh client is gone, so no orphan outlives the run that started it.
   */
  readonly receivesInto?: (directory: string) => Promise<number[]>;
}
