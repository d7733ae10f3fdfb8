// A command for a remote host as the single string ssh carries. The string is the target
// filter's grammar (share/snapkeep-target-filter.sh): words of a fixed safe alphabet separated by
// single spaces, so it needs no quoting — the same string is also a valid command line for a
// host without the filter (a login shell runs it as is). Anything outside the alphabet is refused
// here, before it could reach a remote shell. The grammar's one request outside it, `date -u +%s`
// (the host's clock, for doctor), is accepted as that exact fixed string only.
import type { CommandSpec } from '../exec/command.js';

const wordPattern = /^[A-Za-z0-9._/:@+=,-]+$/;

/** Commands that need root on the target (run through `sudo -n` unless the user is root). */
const privileged = new Set(['btrfs', 'mkdir']);

export class UnsafeRemoteArgument extends Error {}

/** Requests of the grammar outside the alphabet, allowed verbatim and nothing like them. */
const fixedRequests = new Set(['date -u +%s']);

export function remoteRequest(spec: CommandSpec, options: { sudo: boolean }): string {
  const words = [spec.file, ...spec.args];
  if (fixedRequests.has(words.join(' ')) && !spec.env) return words.join(' ');
  for (const word of words) {
    if (!wordPattern.test(word)) {
      throw new UnsafeRemoteArgument(
        `cannot send ${JSON.stringify(word)} to a remote host: only A-Z a-z 0-9 . _ - + @ : = , / are allowed in remote paths and arguments`,
      );
    }
  }
  if (spec.env && Object.keys(spec.env).length > 0) {
    throw new UnsafeRemoteArgument(`remote commands take no environment (${spec.file})`);
  }
  const prefix = options.sudo && privileged.has(spec.file) ? ['sudo', '-n'] : [];
  return [...prefix, ...words].join(' ');
}

/** Which end of a compressed stream a remote command is: `send | zstd -c` or `zstd -d -c | receive`. */
export type StreamCompression = 'compress-output' | 'decompress-input';

/** The filter's compressed-stream forms (share/snapkeep-target-filter.sh). */
export function remoteStreamRequest(
  spec: CommandSpec,
  options: { sudo: boolean; compression?: StreamCompression },
): string {
  const request = remoteRequest(spec, options);
  if (options.compression === 'compress-output') return `${request} | zstd -c`;
  if (options.compression === 'decompress-input') return `zstd -d -c | ${request}`;
  return request;
}
