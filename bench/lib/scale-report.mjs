#!/usr/bin/env node
// The part of bench/scale.sh's report that report.mjs does not print: peak memory, the marginal
// cost per subvolume and per 1,000 snapshots (how cost grows), and issue 17's goals.
//   node scale-report.mjs WORK_DIR OUT_JSON
// WORK_DIR holds samples.tsv (scenario, tool, run, microseconds), rss/<scenario>.<tool>.json
// (peak-rss.mjs) and meta.json; OUT_JSON (report.mjs's) gets a `scale` member.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { median, pairedRatio } from './stats.mjs';

const [work, out] = process.argv.slice(2);
if (!work || !out) {
  process.stderr.write('usage: scale-report.mjs WORK_DIR OUT_JSON\n');
  process.exit(2);
}
const readJson = (file, fallback) => (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : fallback);

// byRun[scenario][tool][run] = seconds
const byRun = {};
for (const line of readFileSync(join(work, 'samples.tsv'), 'utf8').split('\n').filter(Boolean)) {
  const [scenario, tool, run, us] = line.split('\t');
  ((byRun[scenario] ??= {})[tool] ??= {})[run] = Number(us) / 1e6;
}
const med = (scenario, tool) => median(Object.values(byRun[scenario]?.[tool] ?? {}));
const paired = (scenario, tool, base) => pairedRatio(byRun[scenario]?.[tool], byRun[scenario]?.[base]);

const rss = {};
const rssDir = join(work, 'rss');
for (const file of existsSync(rssDir) ? readdirSync(rssDir) : []) {
  const match = /^(.+)\.([a-z]+)\.json$/.exec(file);
  if (match) (rss[match[1]] ??= {})[match[2]] = readJson(join(rssDir, file)).peakKiB;
}

const ms = (seconds) => (seconds === undefined ? '-' : `${(seconds * 1000).toFixed(0)} ms`);
const mib = (kib) => (kib === undefined ? '-' : `${(kib / 1024).toFixed(0)} MiB`);
const times = (ratio) => (ratio === undefined || !Number.isFinite(ratio) ? '-' : `${ratio.toFixed(2)}x`);
const pairedText = (ratio) =>
  ratio === undefined
    ? '-'
    : `${ratio.median.toFixed(2)}x (${ratio.low.toFixed(2)}-${ratio.high.toFixed(2)})`;
function printTable(title, header, rows) {
  if (rows.length === 0) return;
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => String(row[i]).length)));
  const line = (row) =>
    row
      .map((cell, i) => (i === 0 ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i])))
      .join('  ')
      .trimEnd();
  process.stdout.write(`\n${title}\n${[line(header), ...rows.map(line)].join('\n')}\n`);
}

const scenarios = Object.keys(byRun);
const result = { peakMemoryKiB: rss, perSubvolume: [], perThousandSnapshots: [], goals: [] };

// --- peak memory ---------------------------------------------------------------------------------
printTable(
  'Peak RSS of the whole process tree (one extra, untimed run each; sampled every 4 ms):',
  ['SCENARIO', 'SNAPKEEP', 'BTRBK', 'SK/BTRBK'],
  Object.entries(rss).map(([scenario, tools]) => [
    scenario,
    mib(tools.snapkeep),
    mib(tools.btrbk),
    times(tools.snapkeep / tools.btrbk),
  ]),
);

// --- marginal cost per subvolume -----------------------------------------------------------------
const slope = (x0, y0, x1, y1) => (y0 === undefined || y1 === undefined ? undefined : (y1 - y0) / (x1 - x0));
const manyRows = [];
const groups = new Map(); // "local-t1-nochange" -> [[n, scenario]]
for (const scenario of scenarios) {
  const match = /^(local|ssh)-n(\d+)-t(\d+)-(nochange|incremental)$/.exec(scenario);
  if (!match) continue;
  const key = `${match[1]}-t${match[3]}-${match[4]}`;
  groups.set(key, [...(groups.get(key) ?? []), [Number(match[2]), scenario]]);
}
for (const [key, points] of groups) {
  points.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < points.length; i++) {
    const [n0, s0] = points[i - 1];
    const [n1, s1] = points[i];
    const per = Object.fromEntries(
      ['snapkeep', 'btrbk', 'raw'].map((tool) => [tool, slope(n0, med(s0, tool), n1, med(s1, tool))]),
    );
    const entry = { group: key, from: n0, to: n1, secondsPerSubvolume: per };
    result.perSubvolume.push(entry);
    manyRows.push([
      `${key} ${n0}->${n1}`,
      ms(per.snapkeep),
      ms(per.btrbk),
      ms(per.raw),
      times(per.snapkeep / per.raw),
      times(per.snapkeep / per.btrbk),
    ]);
  }
}
printTable(
  'Marginal cost per subvolume (difference of medians / difference of subvolume counts):',
  ['CONFIGURATION N->N', 'SNAPKEEP', 'BTRBK', 'RAW', 'SK/RAW', 'SK/BTRBK'],
  manyRows,
);

// --- marginal cost per 1,000 snapshots -----------------------------------------------------------
const historyRows = [];
const ops = new Map(); // op -> [[level, scenario]]
for (const scenario of scenarios) {
  const match = /^history-(\d+)-([a-z]+)$/.exec(scenario);
  if (match) ops.set(match[2], [...(ops.get(match[2]) ?? []), [Number(match[1]), scenario]]);
}
const historySlopes = {};
for (const [op, points] of ops) {
  points.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < points.length; i++) {
    const [l0, s0] = points[i - 1];
    const [l1, s1] = points[i];
    const per = Object.fromEntries(
      ['snapkeep', 'btrbk', 'raw'].map((tool) => [
        tool,
        slope(l0 / 1000, med(s0, tool), l1 / 1000, med(s1, tool)),
      ]),
    );
    (historySlopes[op] ??= []).push({ from: l0, to: l1, per });
    result.perThousandSnapshots.push({ op, from: l0, to: l1, secondsPerThousand: per });
    historyRows.push([
      `${op} ${l0}->${l1}`,
      ms(per.snapkeep),
      ms(per.btrbk),
      ms(per.raw),
      times(per.snapkeep / per.btrbk),
    ]);
  }
}
printTable(
  'Marginal cost per 1,000 snapshots per subvolume (difference of medians / thousands of snapshots):',
  ['OPERATION LEVELS', 'SNAPKEEP', 'BTRBK', 'RAW LIST', 'SK/BTRBK'],
  historyRows,
);

// --- the goals of issue 17 -----------------------------------------------------------------------
const goal = (label, value, limit, shown = times(value)) => {
  const verdict = value === undefined || !Number.isFinite(value) ? '-' : value <= limit ? 'PASS' : 'MISS';
  result.goals.push({ label, value, limit, verdict });
  return [label, shown, `<= ${limit.toFixed(2)}`, verdict];
};
const goalRows = [];
const ratioGoal = (scenario, base, limit) => {
  if (!byRun[scenario]) return;
  const ratio = paired(scenario, 'snapkeep', base);
  goalRows.push(goal(`${scenario} vs ${base} (paired)`, ratio?.median, limit, pairedText(ratio)));
};
ratioGoal('local-n50-t1-nochange', 'raw', 1.0);
ratioGoal('local-n50-t1-nochange', 'btrbk', 0.35);
ratioGoal('local-n50-t1-incremental', 'raw', 1.0);
ratioGoal('ssh-n50-t1-nochange', 'btrbk', 0.2);
const marginal = result.perSubvolume.filter((entry) => entry.group === 'local-t1-nochange').at(-1);
if (marginal)
  goalRows.push(
    goal(
      `marginal per subvolume local t1 no-change ${marginal.from}->${marginal.to}, sk/raw`,
      marginal.secondsPerSubvolume.snapkeep / marginal.secondsPerSubvolume.raw,
      1.2,
    ),
  );
const topLevel = Math.max(0, ...[...(ops.get('dryrun') ?? [])].map(([level]) => level));
if (topLevel > 0) {
  ratioGoal(`history-${topLevel}-dryrun`, 'btrbk', 0.3);
  const memory = rss[`history-${topLevel}-dryrun`];
  if (memory)
    goalRows.push(goal(`history-${topLevel}-dryrun peak RSS sk/btrbk`, memory.snapkeep / memory.btrbk, 1.0));
  const slopes = historySlopes.dryrun ?? [];
  if (slopes.length >= 2) {
    const [before, last] = slopes.slice(-2);
    // Linear growth keeps the cost per 1,000 snapshots constant; a quadratic step multiplies it.
    // A lower slope at or below zero is noise (the difference of two medians within it): no ratio.
    const ratio = before.per.snapkeep > 0 ? last.per.snapkeep / before.per.snapkeep : undefined;
    goalRows.push(
      goal(
        `dryrun per 1,000 snapshots ${last.from}->${last.to} / ${before.from}->${before.to} (sk)`,
        ratio,
        1.5,
      ),
    );
  }
}
ratioGoal('local-n1-t1-nochange', 'btrbk', 0.6);
printTable("Issue 17's goals:", ['GOAL', 'VALUE', 'LIMIT', 'RESULT'], goalRows);

const report = readJson(out, {});
report.scale = result;
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
