// `snapkeep infra init | plan | apply | destroy | output`: the options, the AWS target's run
// (src/infra/infra-run.ts), and its text.
import { formatCheck } from '../doctor/check.js';
import { formatCost } from '../infra/aws-target.js';
import { infra, type InfraAction, type InfraEvent } from '../infra/infra-run.js';
import { createOutput } from './output.js';
import { createPrinter, toStderr, type TextLine } from './printer.js';

export type { InfraAction } from '../infra/infra-run.js';

export interface InfraOptions {
  readonly config?: string;
  readonly json: boolean;
  readonly yes: boolean;
  readonly dryRun: boolean;
  /** destroy without a terminal: the volume's name, typed ahead. */
  readonly confirmVolume?: string;
  /** Seconds to wait for the new instance to answer over SSH. */
  readonly waitSeconds: number;
}

/** The text of an action's events (`infra output` lists the outputs; apply says what it made). */
export function infraText(action: InfraAction): (event: InfraEvent) => readonly TextLine[] {
  return (event) => {
    switch (event.type) {
      case 'infra-module':
        return [
          `module copied to ${event.workingDir} (variables in ${event.variablesFile}); running ${event.tool} init`,
        ];
      case 'infra-init':
        return action === 'init' ? ['ready: snapkeep infra plan shows what apply would create'] : [];
      case 'infra-plan':
        return [event.plan];
      case 'infra-cost':
        return formatCost(event);
      case 'infra-applying':
        return [`applying with ${event.tool} (an instance takes 1-3 minutes)…`];
      case 'infra-outputs': {
        const { type: _type, ...outputs } = event;
        if (action === 'output')
          return Object.entries(outputs).flatMap(([key, value]) =>
            value === undefined ? [] : [`${key.padEnd(11)} ${value}`],
          );
        return [
          `instance ${event.instanceId} (${event.region}) at ${event.host}; volume ${event.volumeName} (${event.volumeId})`,
        ];
      }
      case 'infra-ssh-wait':
        return [`waiting for ${event.host}:${event.port} to answer over SSH (up to ${event.waitSeconds} s)…`];
      case 'infra-ssh':
        return [
          `host key recorded in ${event.knownHosts} (trusted on first use, seconds after the instance was made):\n${event.fingerprints}`,
        ];
      case 'smoke-retry':
        return [
          `smoke tests: not yet (${event.failing.join(', ')}); the instance may still be booting, again in ${event.retrySeconds} s`,
        ];
      case 'smoke-tests':
        return ['smoke tests:'];
      case 'check': {
        const { type: _type, ...result } = event;
        return formatCheck(result);
      }
      case 'infra-smoke-failed':
        return [
          toStderr(
            `the target does not pass its smoke tests (${event.failed.join(', ')}); the config was not changed. Fix what is shown above, then: snapkeep doctor ssh, and snapkeep infra apply again (it changes nothing that exists)`,
          ),
        ];
      case 'infra-config':
        return [
          [
            `target "${event.target}" written to ${event.configPath} (${event.path}; previous file: ${event.configPath}.before-infra)`,
            `connection details for the original scripts: ${event.connectionEnv}`,
            `next: add "${event.target}" to a subvolume's targets: and run snapkeep run; check any time with snapkeep doctor`,
          ].join('\n'),
        ];
      case 'infra-destroy-warning':
        return [
          [
            `This deletes instance ${event.instance} and volume ${event.volumeName} (${event.volume}) in ${event.region}.`,
            'EVERY BACKUP ON THAT VOLUME IS DELETED WITH IT; there is no undo.',
            ...(event.bucket
              ? [
                  `The bucket ${event.bucket} keeps its objects (Object Lock): AWS refuses to delete a bucket that is not empty.`,
                ]
              : []),
          ].join('\n'),
        ];
      case 'infra-destroyed':
        return [
          `destroyed. The target "${event.target}" is still in ${event.configPath}: remove it (and from subvolumes' targets) before the next run.`,
        ];
      case 'summary':
        return [event.command === 'infra-apply' ? 'dry run: nothing applied' : 'dry run: nothing destroyed'];
    }
  };
}

async function ask(question: string): Promise<string> {
  const { createInterface } = await import('node:readline/promises');
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await prompt.question(question)).trim();
  } finally {
    prompt.close();
  }
}

export async function runInfra(action: InfraAction, options: InfraOptions): Promise<number> {
  const output = createOutput(options.json);
  return infra(
    action,
    {
      ...(options.config === undefined ? {} : { config: options.config }),
      yes: options.yes,
      dryRun: options.dryRun,
      ...(options.confirmVolume === undefined ? {} : { confirmVolume: options.confirmVolume }),
      waitSeconds: options.waitSeconds,
      // Asked only on a terminal, and never under --json (whose stdout a script reads).
      ...(process.stdin.isTTY && !options.json ? { ask } : {}),
    },
    createPrinter(output, infraText(action)),
  );
}
