#!/usr/bin/env bash
# How fast `status --json` and `check` answer with a week and with a year of history, against
# `snapkeep --version` (Node's start-up and the CLI's loading: the floor of any command).
#
#   bench/status.sh                 # ~1-2 min on 2 cores
#   BENCH_RUNS=30 bench/status.sh   # more runs
#
# Needs: node, hyperfine, a built snapkeep (`npm run build`). No root, no btrfs: status and check
# read only the journal, the transfer state and the config.
# Environment:
#   BENCH_RUNS=15          measured runs per command (after 3 warm-up runs)
#   BENCH_SUBVOLUMES=20    subvolumes, each sent to 2 targets; plus 3 backup sets with an offsite copy
#   SNAPKEEP_CLI=path      snapkeep's main.cjs (default: a frozen copy of this repo's dist/)
#   BENCH_TMPDIR=/tmp      where the work directory goes
#
# What it does (under one `mktemp -d`, removed at the end): bench/lib/status-journal.mjs writes
# two state directories, one week and one year of 4-hourly ticks (each tick a `run` over every
# subvolume × target — snapshot, sends, pruning — and a `backup` of the 3 sets), compacting the
# journal before every run as the run lifecycle does. hyperfine then runs the five commands
# alternately in one session (`-N`: no shell), and the medians and their ratios are printed:
# goals `status --json` (year) ≤ 2 × `--version`, and year / week ≤ 1.2 (cost must not grow with
# history). CPU time (user + system) is printed too: on a loaded machine it is steadier than the
# wall clock.
set -euo pipefail

RUNS=${BENCH_RUNS:-15}
SUBVOLUMES=${BENCH_SUBVOLUMES:-20}
REPO=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$REPO/bench
WORK=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/snapkeep-status-bench-XXXX")
trap 'rm -rf "$WORK"' EXIT
# shellcheck source=lib/common.sh
source "$BENCH/lib/common.sh"
command -v hyperfine >/dev/null || die "hyperfine is missing (apt-get install hyperfine)"
unset_node_ca_certs
freeze_snapkeep

log "writing a week and a year of history ($SUBVOLUMES subvolumes × 2 targets + 3 backup sets)"
for span in week:7 year:365; do
  name=${span%%:*}
  node "$BENCH/lib/status-journal.mjs" "$WORK/$name" "${span##*:}" "$SUBVOLUMES" >"$WORK/$name.json"
done
export BENCH_PASSWORD=unused

log "measuring ($RUNS runs each)"
hyperfine -N --warmup 3 --runs "$RUNS" --export-json "$WORK/hyperfine.json" \
  -n version "node $CLI --version" \
  -n status-week "node $CLI status --json --config $WORK/week/snapkeep.yaml" \
  -n status-year "node $CLI status --json --config $WORK/year/snapkeep.yaml" \
  -n check-week "node $CLI check --config $WORK/week/snapkeep.yaml" \
  -n check-year "node $CLI check --config $WORK/year/snapkeep.yaml" >"$WORK/hyperfine.log" 2>&1 ||
  {
    tail -n 30 "$WORK/hyperfine.log" >&2
    die "hyperfine failed"
  }

node - "$WORK" <<'EOF'
const { readFileSync, statSync, readdirSync } = require('node:fs');
const { join } = require('node:path');
const work = process.argv[2];
const results = Object.fromEntries(
  JSON.parse(readFileSync(join(work, 'hyperfine.json'), 'utf8')).results.map((result) => [result.command, result]),
);
const ms = (seconds) => `${(seconds * 1000).toFixed(1)} ms`;
const history = (name) => {
  const info = JSON.parse(readFileSync(join(work, `${name}.json`), 'utf8'));
  const state = join(work, name, 'state');
  const archives = readdirSync(join(state, 'journal.d')).length;
  return `${info.ticks} ticks, ${info.lines} lines written; journal.ndjson ${(statSync(join(state, 'journal.ndjson')).size / 1024).toFixed(0)} KiB, ${archives} archive(s)`;
};
console.log(`history: week: ${history('week')}`);
console.log(`         year: ${history('year')}`);
console.log('');
console.log('command        median     CPU (user+sys)');
for (const name of ['version', 'status-week', 'status-year', 'check-week', 'check-year']) {
  const result = results[name];
  console.log(`${name.padEnd(13)}  ${ms(result.median).padStart(9)}  ${ms(result.user + result.system).padStart(9)}`);
}
const ratio = (a, b, cpu = false) => {
  const value = (name) => (cpu ? results[name].user + results[name].system : results[name].median);
  return value(a) / value(b);
};
console.log('');
const lines = [
  ['status --json (year) / --version', ratio('status-year', 'version'), ratio('status-year', 'version', true), 2],
  ['check (year) / --version', ratio('check-year', 'version'), ratio('check-year', 'version', true), 2],
  ['status --json year / week', ratio('status-year', 'status-week'), ratio('status-year', 'status-week', true), 1.2],
  ['check year / week', ratio('check-year', 'check-week'), ratio('check-year', 'check-week', true), 1.2],
];
console.log('ratio                              median  CPU    goal');
for (const [label, wall, cpu, goal] of lines)
  console.log(`${label.padEnd(33)}  ${wall.toFixed(2).padStart(5)}  ${cpu.toFixed(2).padStart(5)}  ≤ ${goal} ${wall <= goal ? 'met' : 'NOT met'}`);
EOF
