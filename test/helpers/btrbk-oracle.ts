// btrbk 0.32.5 as a test oracle for retention: synthetic snapshot histories, real read-only
// snapshots on a loop-mounted btrfs, and the decisions of `btrbk -n -S prune` under faketime.
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runChecked, runCommand } from '../../src/exec/command.js';

export interface OraclePolicy {
  readonly preserve: string;
  readonly preserveMin: string;
  readonly dayOfWeek: string;
  readonly hourOfDay: number;
}

export interface BtrbkDecision {
  readonly action: 'keep' | 'delete';
  /** btrbk's REASON column; undefined where it prints "-". */
  readonly reason: string | undefined;
}

/** Deterministic PRNG (mulberry32) so every run tests the same history. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pad = (value: number, width = 2): string => String(value).padStart(width, '0');

/** The timestamp part of a name for an instant, with the fields read in UTC shifted by an offset. */
function stamp(epochMs: number, format: 'short' | 'long' | 'iso', offsetMinutes = 0, zulu = false): string {
  const shifted = new Date(epochMs + offsetMinutes * 60_000);
  const date = `${shifted.getUTCFullYear()}${pad(shifted.getUTCMonth() + 1)}${pad(shifted.getUTCDate())}`;
  if (format === 'short') return date;
  const time = `${pad(shifted.getUTCHours())}${pad(shifted.getUTCMinutes())}`;
  if (format === 'long') return `${date}T${time}`;
  const absolute = Math.abs(offsetMinutes);
  const zone = zulu
    ? 'Z'
    : `${offsetMinutes < 0 ? '-' : '+'}${pad(Math.floor(absolute / 60))}${pad(absolute % 60)}`;
  return `${date}T${time}${pad(shifted.getUTCSeconds())}${zone}`;
}

const dayMs = 86_400_000;
const utcDay = (text: string): number => Date.parse(`${text}T00:00:00Z`);

/**
 * A synthetic history of snapshot names for the basenames "home" and "var.log" (read in UTC):
 * 2022-01-01 to 2025-01-12 with gaps, dense hourly stretches before 2024-10-31 and 2025-01-05,
 * short, long and long-iso names (offsets +0000, Z, +0200, -0500, +0530), same-minute `_N`
 * duplicates, equal instants written differently, names in the future, names at DST changes of
 * several zones, and years that Perl's Time::Local reads unusually. Returned in a shuffled order.
 */
export function generateHistory(seed = 20241031): string[] {
  const random = seededRandom(seed);
  const seen = new Set<string>();
  const names: string[] = [];
  const addUnique = (stem: string): void => {
    let name = stem;
    for (let sequence = 1; seen.has(name); sequence += 1) name = `${stem}_${sequence}`;
    seen.add(name);
    names.push(name);
  };
  const gaps = [
    ['2022-05-10', '2022-07-02'],
    ['2023-02-14', '2023-02-27'],
    ['2023-09-01', '2023-09-04'],
    ['2024-08-01', '2024-08-20'],
  ].map(([from, to]) => [utcDay(from!), utcDay(to!)] as const);
  const dense = [
    ['2024-02-26', '2024-03-02'],
    ['2024-10-27', '2024-11-01'],
    ['2024-12-31', '2025-01-06'],
  ].map(([from, to]) => [utcDay(from!), utcDay(to!)] as const);
  const offsets = [
    [0, false],
    [0, true],
    [120, false],
    [-300, false],
    [330, false],
  ] as const;

  for (let day = utcDay('2022-01-01'); day < utcDay('2025-01-13'); day += dayMs) {
    if (gaps.some(([from, to]) => day >= from && day < to)) continue;
    const isDense = dense.some(([from, to]) => day >= from && day < to);
    const times: number[] = [];
    if (isDense) {
      for (let hour = 0; hour < 24; hour += 1) {
        if (random() < 0.7) times.push(day + hour * 3_600_000 + Math.floor(random() * 60) * 60_000);
      }
    } else {
      const count = (random() < 0.85 ? 1 : 0) + (random() < 0.25 ? 1 : 0);
      for (let index = 0; index < count; index += 1) {
        times.push(day + Math.floor(random() * 24) * 3_600_000 + Math.floor(random() * 60) * 60_000);
      }
    }
    for (const time of times) {
      const basename = random() < 0.85 ? 'home' : 'var.log';
      const kind = random();
      let timestamp: string;
      if (kind < 0.12) timestamp = stamp(time, 'short');
      else if (kind < 0.62) timestamp = stamp(time, 'long');
      else {
        const [offset, zulu] = offsets[Math.floor(random() * offsets.length)]!;
        timestamp = stamp(time + Math.floor(random() * 60) * 1000, 'iso', offset, zulu);
      }
      const stem = `${basename}.${timestamp}`;
      addUnique(stem);
      if (random() < 0.04) {
        addUnique(stem);
        if (random() < 0.3) addUnique(stem);
      }
    }
  }

  const extras = [
    // The same instant written differently (ties: btrbk keeps its listing order, we keep input order).
    'home.20240915T1000',
    'home.20240915T120000+0200',
    'var.log.20231120T0800',
    'var.log.20231120T080000Z',
    // _N out of order.
    'home.20241030T1500_2',
    'home.20241030T1500',
    'home.20241030T1500_1',
    // Around 2024-10-31T23:30: same hour, in the past and in the future.
    'home.20241031T2300',
    'home.20241031T2315',
    'home.20241031T2345',
    'home.20241031T2359_1',
    // Short names on and after the "now" days, and far in the future.
    'home.20241101',
    'var.log.20250105',
    'home.20250106',
    'home.20260101',
    'home.20301231T2359',
    'var.log.20250601T120000+0200',
    // DST changes (Europe/Berlin, America/New_York, Australia/Lord_Howe).
    'home.20230326T0230',
    'home.20231029T0230',
    'home.20240331T0215',
    'home.20241027T0245',
    'home.20240310T0230',
    'home.20241103T0130',
    'home.20240407T0145',
    'home.20241006T0215',
    // Years Perl's Time::Local reads as two-digit years (rolling century) or shifts by 1900 years.
    'home.19700101T0000',
    'home.19740615T1200',
    'home.19750615T1200',
    'home.19990101',
    'home.29500101',
    'var.log.19000229',
  ];
  for (const name of extras) addUnique(name);

  // Fisher-Yates shuffle: neither creation nor input order is sorted.
  for (let index = names.length - 1; index > 0; index -= 1) {
    const other = Math.floor(random() * (index + 1));
    [names[index], names[other]] = [names[other]!, names[index]!];
  }
  return names;
}

/**
 * Create every name as a read-only snapshot of `source` in `directory`, one after the other (so
 * subvolume IDs follow the given order), and return the names in subvolume-ID order — the order
 * btrbk lists them in, which decides between snapshots of the same instant.
 */
export async function createSnapshots(
  mountPoint: string,
  source: string,
  directory: string,
  names: readonly string[],
  workDir: string,
): Promise<string[]> {
  const listFile = join(workDir, 'snapshot-names.txt');
  await writeFile(listFile, `${names.join('\n')}\n`);
  await runChecked({
    file: 'xargs',
    args: [
      '-a',
      listFile,
      '-d',
      '\n',
      '-I{}',
      'btrfs',
      '-q',
      'subvolume',
      'snapshot',
      '-r',
      join(mountPoint, source),
      join(mountPoint, directory, '{}'),
    ],
    timeoutMs: 120_000,
  });
  const list = await runChecked({ file: 'btrfs', args: ['subvolume', 'list', mountPoint] });
  const prefix = `${directory}/`;
  return list.stdout
    .split('\n')
    .map((line) => /^ID (\d+) .* path (.+)$/.exec(line))
    .filter((match): match is RegExpExecArray => match !== null && match[2]!.startsWith(prefix))
    .sort((a, b) => Number(a[1]) - Number(b[1]))
    .map((match) => match[2]!.slice(prefix.length));
}

export type OracleMode = 'snapshot' | 'target';

/** snapshot_preserve_min accepts fewer values than target_preserve_min (no "no", no "0d"). */
export const snapshotModeAccepts = (preserveMin: string): boolean =>
  preserveMin === 'all' || preserveMin === 'latest' || /^[1-9][0-9]*[hdwmy]$/.test(preserveMin);

export interface BtrbkRun {
  readonly mountPoint: string;
  /** Directory (relative to the mount point) holding the snapshots. */
  readonly directory: string;
  readonly source: string;
  readonly basenames: readonly string[];
  readonly policy: OraclePolicy;
  /** "snapshot": the directory is the snapshot_dir; "target": it is a target (snapshot_dir empty). */
  readonly mode: OracleMode;
  /** Local time YYYY-MM-DDThh:mm:ss. */
  readonly now: string;
  readonly timeZone: string;
  readonly configPath: string;
}

export function btrbkConfig(run: Omit<BtrbkRun, 'now' | 'timeZone' | 'configPath'>): string {
  const { policy } = run;
  const lines = [
    'timestamp_format long',
    `preserve_day_of_week ${policy.dayOfWeek}`,
    `preserve_hour_of_day ${policy.hourOfDay}`,
  ];
  if (run.mode === 'snapshot') {
    lines.push(`snapshot_preserve ${policy.preserve}`, `snapshot_preserve_min ${policy.preserveMin}`);
  } else {
    lines.push(
      'snapshot_preserve_min all',
      `target_preserve ${policy.preserve}`,
      `target_preserve_min ${policy.preserveMin}`,
    );
  }
  lines.push(`volume ${run.mountPoint}`);
  lines.push(`  snapshot_dir ${run.mode === 'snapshot' ? run.directory : 'btrbk-empty-snapshot-dir'}`);
  for (const basename of run.basenames) {
    lines.push(`  subvolume ${run.source}`, `    snapshot_name ${basename}`);
    if (run.mode === 'target') lines.push(`    target ${join(run.mountPoint, run.directory)}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Run `faketime '<now>' btrbk -c <config> -n -S --format=col:h:topic,action,path,reason prune`
 * with TZ set, and parse its SNAPSHOT/BACKUP SCHEDULE table: one row per scheduled subvolume,
 * "topic action path reason", action "-" when kept, reason "-" when nothing matched.
 */
export async function btrbkPruneSchedule(run: BtrbkRun): Promise<Map<string, BtrbkDecision>> {
  await writeFile(run.configPath, btrbkConfig(run));
  const result = await runCommand({
    file: 'faketime',
    args: [
      run.now.replace('T', ' '),
      'btrbk',
      '-c',
      run.configPath,
      '-n',
      '-S',
      '--format=col:h:topic,action,path,reason',
      'prune',
    ],
    env: { TZ: run.timeZone },
    timeoutMs: 60_000,
  });
  if (result.exitCode !== 0 || /ERROR|WARNING/.test(result.stderr)) {
    throw new Error(`btrbk failed (exit ${result.exitCode}): ${result.stderr}\n${result.stdout}`);
  }
  const title = run.mode === 'snapshot' ? 'SNAPSHOT SCHEDULE' : 'BACKUP SCHEDULE';
  const topic = run.mode === 'snapshot' ? 'snapshot' : 'backup';
  const lines = result.stdout.split('\n');
  const start = lines.indexOf(title);
  if (start < 0) throw new Error(`btrbk printed no ${title}:\n${result.stdout}`);
  const decisions = new Map<string, BtrbkDecision>();
  const directoryPrefix = `${join(run.mountPoint, run.directory)}/`;
  for (const line of lines.slice(start + 2)) {
    if (line.trim() === '') break;
    const match = /^(\S+)\s+(\S+)\s+(\S+)\s+(.*)$/.exec(line);
    if (!match || match[1] !== topic || !match[3]!.startsWith(directoryPrefix)) {
      throw new Error(`unexpected btrbk schedule line: ${JSON.stringify(line)}`);
    }
    const action = match[2] === 'delete' ? 'delete' : match[2] === '-' ? 'keep' : undefined;
    if (!action) throw new Error(`unexpected btrbk action in: ${JSON.stringify(line)}`);
    const reason = match[4]!.trim();
    decisions.set(match[3]!.slice(directoryPrefix.length), {
      action,
      reason: reason === '-' ? undefined : reason,
    });
  }
  return decisions;
}
