#!/usr/bin/env node
// Turns what bench/btrfs-local.sh collected into the results table (stdout) and a JSON file.
//   node report.mjs WORK_DIR OUT_JSON
// WORK_DIR holds samples.tsv (scenario, tool, run, microseconds), hyperfine/*.json, meta.json,
// populate-data.json, list-info.json, changes.ndjson and logs/<scenario>.<tool>.<run>.log (the
// snapkeep logs are NDJSON: their `step` events give per-step durations for the analysis).
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { median, pairedRatio } from './stats.mjs';

const [work, out] = process.argv.slice(2);
if (!work || !out) {
  process.stderr.write('usage: report.mjs WORK_DIR OUT_JSON\n');
  process.exit(2);
}
const readJson = (file, fallback) => (existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : fallback);

// samples[scenario][tool] = seconds[]; byRun[scenario][tool][run] = seconds (for paired ratios)
const samples = {};
const byRun = {};
const tsv = existsSync(join(work, 'samples.tsv')) ? readFileSync(join(work, 'samples.tsv'), 'utf8') : '';
for (const line of tsv.split('\n').filter(Boolean)) {
  const [scenario, tool, run, us] = line.split('\t');
  ((samples[scenario] ??= {})[tool] ??= []).push(Number(us) / 1e6);
  ((byRun[scenario] ??= {})[tool] ??= {})[run] = Number(us) / 1e6;
}
const pairedFor = (scenario, tool, base) => pairedRatio(byRun[scenario]?.[tool], byRun[scenario]?.[base]);
for (const name of ['version', 'list']) {
  const hf = readJson(join(work, 'hyperfine', `${name}.json`));
  if (!hf) continue;
  for (const result of hf.results) (samples[name] ??= {})[result.command] = result.times;
}
const med = (scenario, tool) => median(samples[scenario]?.[tool] ?? []);

// Snapkeep's own account of where its time went: step durations by kind, from its NDJSON.
const stepBreakdown = {};
const logs = existsSync(join(work, 'logs')) ? readdirSync(join(work, 'logs')) : [];
for (const file of logs) {
  const match = /^([a-z0-9-]+)\.(snapkeep[a-z0-9-]*)\.(\d+)\.log$/.exec(file);
  if (!match) continue;
  const [, scenario, tool] = match;
  const perKind = {};
  let stepsTotal = 0;
  for (const line of readFileSync(join(work, 'logs', file), 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    let event;
    try {
      event = JSON.parse(line);
    } catch {
      continue;
    }
    if (event.type !== 'step') continue;
    const kind = event.step?.kind ?? '?';
    perKind[kind] = (perKind[kind] ?? 0) + event.durationMs;
    stepsTotal += event.durationMs;
  }
  const entry = ((stepBreakdown[scenario] ??= {})[tool] ??= { runs: [] });
  entry.runs.push({ perKindMs: perKind, stepsSumMs: stepsTotal });
}
for (const scenario of Object.values(stepBreakdown)) {
  for (const entry of Object.values(scenario)) {
    const kinds = new Set(entry.runs.flatMap((run) => Object.keys(run.perKindMs)));
    entry.medianPerKindMs = Object.fromEntries(
      [...kinds].map((kind) => [kind, median(entry.runs.map((run) => run.perKindMs[kind] ?? 0))]),
    );
    entry.medianStepsSumMs = median(entry.runs.map((run) => run.stepsSumMs));
  }
}

// Rows: scenario id, label, snapkeep's tool name, what the goal compares with, the goal (a ratio,
// or seconds for "absolute"). Another bench script (btrfs-ssh.sh) puts its own in WORK/rows.json.
const rows = readJson(join(work, 'rows.json'), undefined) ?? [
  { id: 'full', label: '1 full transfer', sk: 'snapkeep', vs: 'raw', goal: 1.03 },
  { id: 'full', label: '  (full vs btrbk)', sk: 'snapkeep', vs: 'btrbk', goal: undefined },
  { id: 'incremental', label: '2 incremental 5%', sk: 'snapkeep', vs: 'btrbk', goal: 0.8 },
  { id: 'nochange', label: '3 no change (always)', sk: 'snapkeep', vs: 'btrbk', goal: 0.8 },
  {
    id: 'nochange',
    label: '  no change, sk onchange',
    sk: 'snapkeep-onchange',
    vs: 'btrbk',
    goal: undefined,
    // Measured after the rotation, not in its rounds: no round partner to pair with.
    unpaired: true,
  },
  { id: 'multi', label: '4 4 subvol x 2 tgt, p=2', sk: 'snapkeep-p2', vs: 'btrbk', goal: 0.75 },
  { id: 'multi', label: '  4 subvol x 2 tgt, p=4', sk: 'snapkeep-p4', vs: 'btrbk', goal: 0.75 },
  { id: 'version', label: '5 --version', sk: 'snapkeep', vs: 'absolute', goal: 0.08 },
  {
    id: 'list',
    label: `6 list, ${readJson(join(work, 'meta.json'), {}).listSnapshots ?? '?'} snapshots`,
    sk: 'snapkeep',
    vs: 'btrbk',
    goal: 1.0,
  },
];

const fmt = (seconds) =>
  seconds === undefined ? '-' : seconds < 1 ? `${(seconds * 1000).toFixed(0)} ms` : `${seconds.toFixed(2)} s`;
const table = [];
const results = [];
for (const row of rows) {
  if (!samples[row.id]) continue;
  const sk = med(row.id, row.sk);
  const btrbk = med(row.id, 'btrbk');
  const raw = med(row.id, 'raw');
  let ratio;
  let goalText;
  let verdict;
  if (row.vs === 'absolute') {
    ratio = undefined;
    goalText = `<= ${row.goal * 1000} ms`;
    verdict = sk === undefined ? '-' : sk <= row.goal ? 'PASS' : 'MISS';
  } else {
    const base = row.vs === 'raw' ? raw : row.vs === 'btrbk' ? btrbk : med(row.id, row.vs);
    ratio = sk !== undefined && base ? sk / base : undefined;
    goalText = row.goal === undefined ? `(info, vs ${row.vs})` : `<= ${row.goal.toFixed(2)}x ${row.vs}`;
    verdict = row.goal === undefined || ratio === undefined ? '' : ratio <= row.goal ? 'PASS' : 'MISS';
  }
  const ratios = {
    vsRaw: sk !== undefined && raw ? sk / raw : undefined,
    vsBtrbk: sk !== undefined && btrbk ? sk / btrbk : undefined,
  };
  const paired = row.vs === 'absolute' || row.unpaired ? undefined : pairedFor(row.id, row.sk, row.vs);
  table.push([
    row.label,
    fmt(sk),
    fmt(btrbk),
    fmt(raw),
    ratio === undefined ? '-' : `${ratio.toFixed(2)}x`,
    ratios.vsRaw === undefined ? '-' : `${ratios.vsRaw.toFixed(2)}x`,
    paired === undefined
      ? '-'
      : `${paired.median.toFixed(2)}x (${paired.low.toFixed(2)}-${paired.high.toFixed(2)})`,
    goalText,
    verdict,
  ]);
  results.push({
    scenario: row.id,
    label: row.label.trim(),
    snapkeepTool: row.sk,
    medianSeconds: { snapkeep: sk, btrbk, raw },
    samplesSeconds: {
      snapkeep: samples[row.id][row.sk],
      btrbk: samples[row.id].btrbk,
      raw: samples[row.id].raw,
    },
    comparedWith: row.vs,
    ratio,
    ratioVsRaw: ratios.vsRaw,
    ratioVsBtrbk: ratios.vsBtrbk,
    pairedRatio: paired,
    goal: goalText,
    verdict: verdict || 'info',
  });
}

const header = ['SCENARIO', 'SNAPKEEP', 'BTRBK', 'RAW', 'RATIO', 'SK/RAW', 'PAIRED (IQR)', 'GOAL', 'RESULT'];
const widths = header.map((cell, i) => Math.max(cell.length, ...table.map((row) => row[i].length)));
const line = (row) =>
  row
    .map((cell, i) => (i === 0 || i >= 7 ? cell.padEnd(widths[i]) : cell.padStart(widths[i])))
    .join('  ')
    .trimEnd();
const meta = readJson(join(work, 'meta.json'), {});
process.stdout.write(
  meta.heading
    ? `\n${meta.heading}\n\n`
    : `\nsnapkeep ${meta.snapkeepVersion ?? '?'} vs btrbk ${meta.btrbkVersion ?? '?'}; medians of ${meta.runs ?? '?'} runs (full: ${meta.fullRuns ?? '?'})` +
        ` (version/list: hyperfine); ${meta.dataMiB ?? '?'} MiB data, ${meta.changePercent ?? '?'} % changed per incremental run` +
        `; images on ${meta.imagesOn ?? '?'}\n\n`,
);
process.stdout.write(`${[line(header), ...table.map(line)].join('\n')}\n`);
process.stdout.write(
  '\nRATIO = snapkeep median / median of what the goal compares with; SK/RAW = snapkeep / raw pipe;\n' +
    'PAIRED = median (and quartiles) of the per-round ratio to what the goal compares with: the tools\n' +
    'of a round run back to back, so this is the steadier figure on a busy machine.\n',
);

// Where snapkeep's time went (its own step timings; the rest is process start, config, listing,
// planning, verifying, journal).
const breakdownLines = [];
for (const [scenario, tools] of Object.entries(stepBreakdown)) {
  for (const [tool, entry] of Object.entries(tools)) {
    const wall = med(scenario, tool);
    if (wall === undefined) continue;
    const kinds = Object.entries(entry.medianPerKindMs)
      .map(([kind, ms]) => `${kind} ${ms.toFixed(0)} ms`)
      .join(', ');
    // With parallel sends the step times overlap, so "wall minus steps" means nothing there.
    const outside =
      wall * 1000 >= entry.medianStepsSumMs
        ? `outside steps ~${(wall * 1000 - entry.medianStepsSumMs).toFixed(0)} ms`
        : 'steps overlap (parallel)';
    breakdownLines.push(
      `  ${scenario.padEnd(11)} ${tool.padEnd(17)} wall ${fmt(wall).padStart(8)}; steps: ${kinds || 'none'}; ${outside}`,
    );
  }
}
if (breakdownLines.length) {
  process.stdout.write(
    '\nsnapkeep step durations (medians from its --json output; steps of parallel sends overlap):\n',
  );
  process.stdout.write(`${breakdownLines.join('\n')}\n`);
}

const changes = existsSync(join(work, 'changes.ndjson'))
  ? readFileSync(join(work, 'changes.ndjson'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
  : [];
const report = {
  createdAt: new Date().toISOString(),
  meta,
  data: readJson(join(work, 'populate-data.json'), {}),
  list: readJson(join(work, 'list-info.json'), {}),
  changes,
  results,
  snapkeepStepBreakdown: stepBreakdown,
  samplesSeconds: samples,
};
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`\nresults: ${out}\n`);
