// btrbk 0.32.5 as the oracle for retention: >1,000 real read-only snapshots on a loop-mounted
// btrfs, `faketime <now> btrbk -n -S prune` for many policies and several "now"s (as snapshot_dir
// and as target), and our decisions for the same names must be identical — action and reason.
// The built CLI is spawned too, under several time zones, to prove the NDJSON contract.
import { existsSync, statSync } from 'node:fs';
import { copyFile, mkdir, rm, symlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  illegalTimestampReason,
  notSnapshotNameReason,
  parseNow,
  parseRetentionPolicy,
  previewRetention,
  type RetentionVerdict,
} from '../../src/cli/retention-command.js';
import { runChecked, runCommand } from '../../src/exec/command.js';
import { noRuleMatchedReason } from '../../src/retention/btrbk-schedule.js';
import {
  btrbkPruneSchedule,
  createSnapshots,
  generateHistory,
  snapshotModeAccepts,
  type BtrbkDecision,
  type OracleMode,
  type OraclePolicy,
} from '../helpers/btrbk-oracle.js';
import { createLoopBtrfs, makeTempDir, requireTools, type LoopBtrfs } from '../helpers/loop-btrfs.js';

// In-process comparisons read names in local time; btrbk runs with the same TZ.
process.env.TZ = 'UTC';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const basenames = ['home', 'var.log'] as const;
const source = 'src';
const directory = 'backups';

const nows = ['2024-10-31T23:30:00', '2025-01-05T06:20:00', '2024-03-01T00:10:00'] as const;

const policies: readonly (OraclePolicy & { readonly label: string })[] = [
  {
    label: 'classic, min no',
    preserve: '24h 7d 4w 12m 2y',
    preserveMin: 'no',
    dayOfWeek: 'sunday',
    hourOfDay: 0,
  },
  {
    label: '*m, min latest, wed 05:00',
    preserve: '48h 14d 8w *m',
    preserveMin: 'latest',
    dayOfWeek: 'wednesday',
    hourOfDay: 5,
  },
  {
    label: '0 terms, *y, min 3d, mon 23:00',
    preserve: '0h 10d 0w 6m *y',
    preserveMin: '3d',
    dayOfWeek: 'monday',
    hourOfDay: 23,
  },
  { label: 'matrix no, min all', preserve: 'no', preserveMin: 'all', dayOfWeek: 'sunday', hourOfDay: 0 },
  {
    label: 'no daily, min 2w, sat 12:00',
    preserve: '36h 5w 2y',
    preserveMin: '2w',
    dayOfWeek: 'saturday',
    hourOfDay: 12,
  },
  {
    label: 'matrix no, min 0d, tue 03:00',
    preserve: 'no',
    preserveMin: '0d',
    dayOfWeek: 'tuesday',
    hourOfDay: 3,
  },
  {
    label: '*d 3m, min 1m, fri 01:00',
    preserve: '*d 3m',
    preserveMin: '1m',
    dayOfWeek: 'friday',
    hourOfDay: 1,
  },
  {
    label: 'short matrix, min 12h, thu 18:00',
    preserve: '6h 3d 2w 2m 1y',
    preserveMin: '12h',
    dayOfWeek: 'thursday',
    hourOfDay: 18,
  },
  {
    label: '*w 0m 1y, min 1y, sun 09:00',
    preserve: '*w 0m 1y',
    preserveMin: '1y',
    dayOfWeek: 'sunday',
    hourOfDay: 9,
  },
  { label: '*h, min no, mon 00:00', preserve: '*h', preserveMin: 'no', dayOfWeek: 'monday', hourOfDay: 0 },
];

let loop: LoopBtrfs | undefined;
let workDir: string | undefined;
let cliDir: string | undefined;
let cliMain = '';
/** Snapshot names in subvolume-ID order (= btrbk's listing order). */
let names: string[] = [];
let configCounter = 0;

/** The modules `snapkeep retention preview` runs. */
const cliModules = [
  'cli/program',
  'cli/output',
  'cli/retention-command',
  'retention/btrbk-schedule',
  'retention/preserve-policy',
  'snapshot-name',
  'errors',
  'exec/command',
];

/** dist/cli/main.cjs when dist/ holds a build of the current sources (test/global-setup.ts builds it). */
function freshDistMain(): string | undefined {
  for (const module of cliModules) {
    const built = join(repoRoot, 'dist', `${module}.js`);
    if (!existsSync(built)) return undefined;
    if (statSync(built).mtimeMs < statSync(join(repoRoot, 'src', `${module}.ts`)).mtimeMs) return undefined;
  }
  // The entry point is CommonJS (main.cts → main.cjs); it runs the bundle, or these modules when
  // the bundle is older than they are.
  const main = join(repoRoot, 'dist', 'cli', 'main.cjs');
  if (
    !existsSync(main) ||
    statSync(main).mtimeMs < statSync(join(repoRoot, 'src', 'cli', 'main.cts')).mtimeMs
  )
    return undefined;
  return main;
}

/** Otherwise a private build (dist/ is missing or stale, and others may be rebuilding it right now). */
async function buildCli(): Promise<string> {
  cliDir = await makeTempDir('retention-cli');
  await symlink(join(repoRoot, 'node_modules'), join(cliDir, 'node_modules'));
  await copyFile(join(repoRoot, 'package.json'), join(cliDir, 'package.json'));
  const result = await runCommand({
    file: process.execPath,
    args: [
      join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      join(repoRoot, 'tsconfig.build.json'),
      '--outDir',
      join(cliDir, 'dist'),
    ],
    cwd: repoRoot,
    timeoutMs: 120_000,
  });
  const main = join(cliDir, 'dist', 'cli', 'main.cjs');
  const ours = /retention-command|btrbk-schedule|preserve-policy|snapshot-name|cli\/output|cli\/program/;
  const diagnostics = `${result.stdout}${result.stderr}`;
  if (!existsSync(main) || !existsSync(join(cliDir, 'dist', 'cli', 'retention-command.js'))) {
    throw new Error(`building the CLI failed:\n${diagnostics}`);
  }
  // Type errors elsewhere in the tree (work in progress by others) still emit JavaScript; errors in
  // the files this command consists of must fail the test.
  if (result.exitCode !== 0 && ours.test(diagnostics))
    throw new Error(`the CLI does not compile:\n${diagnostics}`);
  return main;
}

beforeAll(async () => {
  await requireTools(['btrbk', 'faketime', 'btrfs', 'mkfs.btrfs', 'xargs']);
  workDir = await makeTempDir('retention-oracle-work');
  const built = Promise.resolve(freshDistMain() ?? buildCli());
  loop = await createLoopBtrfs('retention-oracle', 512);
  await runChecked({ file: 'btrfs', args: ['-q', 'subvolume', 'create', join(loop.mountPoint, source)] });
  await mkdir(join(loop.mountPoint, directory));
  await mkdir(join(loop.mountPoint, 'btrbk-empty-snapshot-dir'));
  names = await createSnapshots(loop.mountPoint, source, directory, generateHistory(), workDir);
  cliMain = await built;
}, 180_000);

afterAll(async () => {
  try {
    await loop?.cleanup();
  } finally {
    if (workDir) await rm(workDir, { recursive: true, force: true });
    if (cliDir) await rm(cliDir, { recursive: true, force: true });
  }
});

async function oracle(
  policy: OraclePolicy,
  now: string,
  mode: OracleMode,
  timeZone = 'UTC',
): Promise<Map<string, BtrbkDecision>> {
  configCounter += 1;
  return btrbkPruneSchedule({
    mountPoint: loop!.mountPoint,
    directory,
    source,
    basenames,
    policy,
    mode,
    now,
    timeZone,
    configPath: join(workDir!, `btrbk-${configCounter}.conf`),
  });
}

/** btrbk's reason as snapkeep words it: "1 day ago" where btrbk writes "1 days ago". */
function inOurWords(reason: string): string {
  return reason.replace(/(^|[^0-9-])1 (hour|day|week|month|year)s ago/g, '$11 $2 ago');
}

/** Every difference between our verdicts and btrbk's decisions (empty when identical). */
function differences(verdicts: readonly RetentionVerdict[], theirs: Map<string, BtrbkDecision>): string[] {
  const found: string[] = [];
  const ours = new Map(verdicts.map((verdict) => [verdict.name, verdict]));
  for (const [name, decision] of theirs) {
    const verdict = ours.get(name);
    if (!verdict) found.push(`${name}: scheduled by btrbk, missing from our output`);
    else if (verdict.action !== decision.action) {
      found.push(
        `${name}: btrbk ${decision.action} (${decision.reason ?? '-'}), we ${verdict.action} (${verdict.reason})`,
      );
    } else if (inOurWords(decision.reason ?? noRuleMatchedReason) !== verdict.reason) {
      found.push(`${name}: reason differs: btrbk "${decision.reason ?? '-'}", we "${verdict.reason}"`);
    }
  }
  for (const name of names) if (!theirs.has(name)) found.push(`${name}: not scheduled by btrbk`);
  return found;
}

const policyFlags = (policy: OraclePolicy, now: string) => ({
  preserve: policy.preserve,
  preserveMin: policy.preserveMin,
  dayOfWeek: policy.dayOfWeek,
  hourOfDay: String(policy.hourOfDay),
  now,
});

describe('retention preview equals btrbk 0.32.5 -S prune', () => {
  it('works on a history with everything the oracle needs', () => {
    expect(names.length).toBeGreaterThanOrEqual(1000);
    const stamps = names.map((name) => /\.([0-9]{8}[^.]*)$/.exec(name)![1]!);
    expect(stamps.filter((stamp) => /^[0-9]{8}(_[0-9]+)?$/.test(stamp)).length).toBeGreaterThan(50);
    expect(stamps.filter((stamp) => /^[0-9]{8}T[0-9]{4}(_[0-9]+)?$/.test(stamp)).length).toBeGreaterThan(300);
    for (const zone of ['+0000', 'Z', '+0200', '-0500', '+0530']) {
      expect(
        stamps.some((stamp) => stamp.includes(zone)),
        zone,
      ).toBe(true);
    }
    expect(names.filter((name) => /_[0-9]+$/.test(name)).length).toBeGreaterThan(20);
    expect(names.some((name) => name.startsWith('var.log.'))).toBe(true);
    const years = new Set(stamps.map((stamp) => stamp.slice(0, 4)));
    for (const year of ['2022', '2023', '2024', '2025', '2026', '2030'])
      expect(years.has(year), year).toBe(true);
  });

  for (const policy of policies) {
    it(`decides like btrbk: ${policy.label} (${policy.preserve}; min ${policy.preserveMin})`, async () => {
      const modes: OracleMode[] = snapshotModeAccepts(policy.preserveMin)
        ? ['target', 'snapshot']
        : ['target'];
      let kept = 0;
      let deleted = 0;
      for (const now of nows) {
        const ours = previewRetention(names, parseRetentionPolicy(policyFlags(policy, now)), parseNow(now));
        for (const mode of modes) {
          const theirs = await oracle(policy, now, mode);
          expect(theirs.size).toBe(names.length);
          expect(differences(ours, theirs), `${mode} at ${now}`).toEqual([]);
        }
        kept += ours.filter((verdict) => verdict.action === 'keep').length;
        deleted += ours.filter((verdict) => verdict.action === 'delete').length;
      }
      // Every policy keeps something (future names at least); all but "min all" delete something.
      expect(kept).toBeGreaterThan(0);
      if (policy.preserveMin !== 'all') expect(deleted).toBeGreaterThan(0);
    });
  }
});

describe('the built CLI (snapkeep retention preview --json)', () => {
  const junk = [
    'README.md',
    'home',
    'home.2024',
    'home.20240230T1200',
    'bad name.20240101',
    'home.20241031T2300',
  ];

  async function preview(policy: OraclePolicy, now: string, timeZone: string, input: readonly string[]) {
    const result = await runCommand({
      file: process.execPath,
      args: [
        cliMain,
        'retention',
        'preview',
        '--preserve',
        policy.preserve,
        '--preserve-min',
        policy.preserveMin,
        '--day-of-week',
        policy.dayOfWeek,
        '--hour-of-day',
        String(policy.hourOfDay),
        '--now',
        now,
        '--json',
      ],
      env: { TZ: timeZone },
      input: `${input.join('\n')}\n\n`,
      timeoutMs: 60_000,
    });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    const lines = result.stdout
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    // The --json contract: the decisions, then exactly one summary.
    expect(lines.at(-1)).toMatchObject({ type: 'summary', command: 'retention preview', exitCode: 0 });
    return lines.slice(0, -1);
  }

  const cases: readonly [OraclePolicy, string, string, OracleMode][] = [
    [policies[0]!, nows[0], 'UTC', 'target'],
    [policies[1]!, nows[0], 'Europe/Berlin', 'snapshot'],
    [policies[7]!, nows[1], 'America/New_York', 'snapshot'],
    [policies[4]!, nows[2], 'Australia/Lord_Howe', 'target'],
  ];
  for (const [policy, now, timeZone, mode] of cases) {
    it(`prints btrbk's decisions as NDJSON: ${policy.preserve}; min ${policy.preserveMin}; ${now} ${timeZone}`, async () => {
      const input = [...junk.slice(0, 3), ...names, ...junk.slice(3)];
      const events = await preview(policy, now, timeZone, input);
      expect(events.map((event) => event.name)).toEqual(input);
      for (const event of events) {
        expect(Object.keys(event).sort()).toEqual(['action', 'name', 'reason', 'type']);
        expect(event.type).toBe('retention');
        expect(['keep', 'delete']).toContain(event.action);
        expect(typeof event.reason).toBe('string');
      }
      const byName = new Map(events.map((event) => [event.name as string, event]));
      for (const name of ['README.md', 'home', 'home.2024', 'bad name.20240101']) {
        expect(byName.get(name)).toMatchObject({ action: 'keep', reason: notSnapshotNameReason });
      }
      expect(byName.get('home.20240230T1200')).toMatchObject({
        action: 'keep',
        reason: illegalTimestampReason,
      });

      const theirs = await oracle(policy, now, mode, timeZone);
      const verdicts = events
        .filter((event) => names.includes(event.name as string))
        .map((event) => event as unknown as RetentionVerdict);
      expect(differences(verdicts, theirs)).toEqual([]);
    });
  }

  it('rejects a bad flag with exit code 2 and a message naming flag, value and what is expected', async () => {
    const result = await runCommand({
      file: process.execPath,
      args: [cliMain, 'retention', 'preview', '--preserve', '7d', '--hour-of-day', '24', '--json'],
      input: 'home.20240101\n',
      timeoutMs: 60_000,
    });
    expect(result.exitCode).toBe(2);
    // Under --json the error is also an event on stdout, then the summary.
    expect(
      result.stdout
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as unknown),
    ).toEqual([
      expect.objectContaining({
        type: 'error',
        code: 'usage',
        exitCode: 2,
        message: expect.stringMatching(/--hour-of-day "24".*0 to 23/) as unknown,
      }),
      expect.objectContaining({ type: 'summary', command: 'retention preview', exitCode: 2 }),
    ]);
    expect(result.stderr).toMatch(/--hour-of-day "24".*0 to 23/);
  });
});
