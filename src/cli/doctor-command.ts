// `snapkeep doctor [prereqs|ssh|volume|sources|aws|logs|all]`: every check prints OK, WARN, FAIL or SKIP,
// and under a WARN or FAIL the likely cause and the fix. --json: one `check` event per check
// (`status` ok, warn, fail or skip) and the program's `summary` with the counts. Exit 0 when
// nothing FAILs, 3 when something does.
import {
  checkGroups,
  formatCheck,
  formatSummary,
  summarize,
  type CheckGroup,
  type CheckResult,
  type DoctorSummary,
} from '../doctor/check.js';
import { runDoctorChecks } from '../doctor/doctor.js';
import { UsageError } from '../errors.js';
import { createOutput } from './output.js';
import { createPrinter, type TextRenderer } from './printer.js';

export interface DoctorCommandOptions {
  readonly config?: string;
  readonly json: boolean;
  readonly what: string;
  readonly targets: readonly string[];
  readonly staleHours?: number;
  readonly outputs?: string;
  readonly region?: string;
  readonly instanceId?: string;
  readonly volumeId?: string;
  readonly awsEndpoint?: string;
  readonly mountPoint?: string;
}

export async function runDoctor(options: DoctorCommandOptions): Promise<number> {
  const what = options.what;
  if (what !== 'all' && !(checkGroups as readonly string[]).includes(what))
    throw new UsageError(
      `unknown check group "${what}"; expected one of ${[...checkGroups, 'all'].join(', ')}`,
    );
  if (options.staleHours !== undefined && (!Number.isFinite(options.staleHours) || options.staleHours <= 0))
    throw new UsageError(
      `--stale-hours must be a positive number of hours (got ${String(options.staleHours)})`,
    );
  const groups = new Set<CheckGroup>(what === 'all' ? checkGroups : [what as CheckGroup]);
  const all: CheckResult[] = [];
  const print = createPrinter(createOutput(options.json), renderDoctorEvent());
  await runDoctorChecks(
    {
      config: options.config,
      groups,
      explicit: what !== 'all',
      targets: options.targets,
      staleHours: options.staleHours,
      recentHours: 7 * 24,
      outputsPath: options.outputs,
      region: options.region,
      instanceId: options.instanceId,
      volumeId: options.volumeId,
      awsEndpoint: options.awsEndpoint,
      mountPoint: options.mountPoint,
    },
    (section) => {
      for (const result of section.results) {
        all.push(result);
        print({ type: 'check', section: section.heading, ...result });
      }
    },
  );
  const { exitCode, ...checks } = summarize(all);
  // Under --json these counts join the program's summary (which counts the check events too).
  print({ type: 'summary', checks });
  return exitCode;
}

/** What doctor reports: each check under its section's heading, then the counts. */
export type DoctorEvent =
  | ({ readonly type: 'check'; readonly section: string } & CheckResult)
  | { readonly type: 'summary'; readonly checks: Omit<DoctorSummary, 'exitCode'> };

/** The text: a section's heading before its first check, the check's lines, the counts line. */
function renderDoctorEvent(): TextRenderer<DoctorEvent> {
  let heading: string | undefined;
  return (event) => {
    if (event.type === 'summary') return [formatSummary(event.checks)];
    const { type: _type, section, ...result } = event;
    const lines = section === heading ? [] : [section];
    heading = section;
    return [...lines, ...formatCheck(result)];
  };
}
