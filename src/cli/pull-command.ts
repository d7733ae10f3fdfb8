// `pull`: the options, the pull (src/replication/pull.ts) and its text.
import { snapshotBasenamePattern } from '../snapshot-name.js';
import { loadResolvedConfig } from '../config/config-cache.js';
import { UsageError } from '../errors.js';
import { pull, type PullEvent, type PullRequest } from '../replication/pull.js';
import { checkoutText, describeFetch, fetchText } from './fetch-output.js';
import { createOutput } from './output.js';
import { createPrinter, type TextLine } from './printer.js';

/** The engine's request, with the config file (not yet read) and the output format. */
export type PullOptions = Omit<PullRequest, 'config'> & { readonly config?: string; readonly json: boolean };

export function pullText(event: PullEvent): readonly TextLine[] {
  switch (event.type) {
    case 'plan': {
      const prefix = event.dryRun ? 'would ' : '';
      return [
        describeFetch(event.fetch, event.from, prefix),
        ...event.expired.map(
          (path) =>
            `${prefix}delete ${path} (older than the newest ${event.keep} pulled, --keep ${event.keep})`,
        ),
        ...checkoutText(event.checkout, prefix),
        ...(event.dryRun ? ['dry run: nothing changed'] : []),
      ];
    }
    case 'step':
      if ('kind' in event)
        return [
          `${event.ok ? 'ok  ' : 'FAIL'} delete ${event.path}${event.ok ? '' : `: ${event.error ?? ''}`}`,
        ];
      return fetchText(event);
    case 'progress':
      return fetchText(event);
    case 'pulled':
      return [
        `pulled ${event.snapshotName} from ${event.from}: ${event.snapshot}${event.checkout ? `; writable ${event.checkout}${event.aside ? ` (the previous one is at ${event.aside})` : ''}` : ''}`,
      ];
  }
}

export async function runPull(options: PullOptions): Promise<number> {
  const output = createOutput(options.json);
  if (!snapshotBasenamePattern.test(options.name))
    throw new UsageError(
      `name "${options.name}": expected a snapshot basename such as "home" (letters, digits, _ @ + - .)`,
    );
  if (!options.into.startsWith('/'))
    throw new UsageError(`--into ${options.into}: expected an absolute path`);
  if (options.checkout !== undefined && !options.checkout.startsWith('/'))
    throw new UsageError(`--checkout ${options.checkout}: expected an absolute path`);
  if (!Number.isInteger(options.keep) || options.keep < 1)
    throw new UsageError(
      `--keep ${options.keep}: expected a whole number of at least 1 (the newest is the next pull's parent)`,
    );
  const { resolved } = await loadResolvedConfig(options.config);
  const { config: _configFile, json: _json, ...request } = options;
  return pull({ ...request, config: resolved }, createPrinter(output, pullText));
}
