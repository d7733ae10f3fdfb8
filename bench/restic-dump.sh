#!/usr/bin/env bash
# A PostgreSQL database into restic, three ways, on the same database in one run:
#   snapkeep   `snapkeep backup` of a backup set holding just this database (streamed, guarded),
#              with its default: table checksums recorded alongside the dump for verify --drill
#   snapkeep-nochecksums   the same with `checksums: false` (like for like with the others)
#   tempfile   seed 004's approach: `pg_dump > file`, then `restic backup --stdin < file`, rm file
#   pipe       a bare shell pipe: `pg_dump | restic backup --stdin` (fast, but keeps a truncated
#              dump as a good-looking snapshot when pg_dump fails: the floor, not a safe tool)
#
#   sudo bench/restic-dump.sh                       # ~500 MB database, 5 runs per way
#   BENCH_DB_MB=200 BENCH_RUNS=3 sudo bench/restic-dump.sh
#   BENCH_RESTIC=.cache/restic-0.18/restic sudo bench/restic-dump.sh   # another restic
#
# Needs: root, restic, PostgreSQL server binaries (/usr/lib/postgresql/N/bin) and client, node,
# and a built snapkeep (`npm run build`).
#
# Fairness: all use the same pg_dump arguments (snapkeep's: custom format, uncompressed —
# seed 004 dumps plain SQL; the format is not what is compared here), the same restic binary, each
# its own copy of one repository (initialised before, not measured; same key cost, own restic
# cache), and the same database state: before every round ~1 % of the rows change, then the ways
# run in a rotating order, `sync` before each. One
# unmeasured round first, so every measured run is the daily case (a repository that already holds
# yesterday's dump; most chunks dedup). The temp file lives in the work directory on the same disk.
set -euo pipefail

RUNS=${BENCH_RUNS:-5}
DB_MB=${BENCH_DB_MB:-500}
RESTIC=${BENCH_RESTIC:-restic}
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$REPO/bench
# shellcheck source=lib/common.sh
source "$BENCH/lib/common.sh"

[[ $(id -u) -eq 0 ]] || die "must run as root (it starts PostgreSQL as the postgres user)"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -x $PGBIN/initdb ]] || die "no PostgreSQL server binaries under /usr/lib/postgresql"
for cmd in "$RESTIC" pg_dump psql node runuser; do command -v "$cmd" >/dev/null || die "$cmd is not installed"; done
[[ -f $REPO/dist/cli/main.cjs ]] || die "no build: run npm run build"
RESTIC=$(command -v "$RESTIC")
unset_node_ca_certs

WORK=$(mktemp -d /tmp/snapkeep-resticbench-XXXX)
chmod 755 "$WORK"
PGDATA=$WORK/pg
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  [[ -f $PGDATA/postmaster.pid ]] && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null 2>&1
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- PostgreSQL on 127.0.0.1 ---------------------------------------------------------------------
PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
mkdir -p "$PGDATA"
chown postgres "$PGDATA" "$WORK"
runuser -u postgres -- "$PGBIN/initdb" -D "$PGDATA" -A trust -U postgres -E UTF8 --locale=C --no-sync >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$PGDATA" -l "$WORK/pg.log" -w \
  -o "-p $PORT -k $WORK -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off" start >/dev/null
export PGHOST=127.0.0.1 PGPORT=$PORT PGUSER=postgres
log "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT; $("$RESTIC" version | head -1)"

# ~DB_MB of realistic rows: text that compresses like prose ~3x, numbers, timestamps, json.
ROWS=$((DB_MB * 2600))
log "creating a ~$DB_MB MB database ($ROWS rows)"
psql -X -q -d postgres -c 'CREATE DATABASE bench'
psql -X -q -d bench <<SQL
CREATE TABLE events (
  id bigint PRIMARY KEY, account integer NOT NULL, happened_at timestamptz NOT NULL,
  kind text NOT NULL, body text NOT NULL, attributes jsonb NOT NULL
);
INSERT INTO events
SELECT g, g % 5000, timestamptz '2024-01-01' + g * interval '7 seconds',
       (ARRAY['login','view','purchase','refund','logout'])[1 + g % 5],
       repeat(md5(g::text) || ' ordered ' || (g % 977)::text || ' items ', 4),
       jsonb_build_object('session', md5((g * 31)::text), 'amount', g % 10000, 'ok', g % 3 = 0)
FROM generate_series(1, $ROWS) g;
CREATE INDEX events_account ON events (account);
VACUUM ANALYZE events;
SQL
DB_SIZE=$(psql -X -At -d bench -c "SELECT pg_database_size('bench')")
log "database size: $((DB_SIZE / 1024 / 1024)) MiB"

# --- repositories and snapkeep's config ----------------------------------------------------------
printf 'bench repository password\n' >"$WORK/password"
export RESTIC_PASSWORD_FILE=$WORK/password
# One repository, copied for each way: `restic init` calibrates the key's scrypt cost to the
# machine's load at that moment (seen here: p=8 in one repository, p=9 in the next), and every
# backup pays it again (~0.5 s), so separately initialised repositories give some ways a head start.
# The copies share a repository id, hence a restic cache directory each.
"$RESTIC" -r "$WORK/repo-pipe" init >/dev/null
for way in snapkeep snapkeep-nochecksums tempfile; do cp -a "$WORK/repo-pipe" "$WORK/repo-$way"; done
cat >"$WORK/snapkeep.yaml" <<EOF
state_dir: $WORK/state
repositories:
  bench:
    url: $WORK/repo-snapkeep
    password: file:$WORK/password
sources:
  database:
    type: postgres
    databases: [bench]
    host: 127.0.0.1
    port: $PORT
    user: postgres
backup_sets:
  bench:
    sources: [database]
    repository: bench
EOF
# The same set with checksums off, into its own repository.
sed -e "s#repo-snapkeep#repo-snapkeep-nochecksums#" -e "s#state_dir: .*#state_dir: $WORK/state-nochecksums#" \
  -e "s#^    user: postgres#    user: postgres\n    checksums: false#" "$WORK/snapkeep.yaml" >"$WORK/snapkeep-nochecksums.yaml"
export SNAPKEEP_CACHE_DIR=$WORK/cache SNAPKEEP_RESTIC=$RESTIC
DUMP=(pg_dump -w --format=custom --compress=0 --dbname bench)
TEMP_PEAK=0
run_way() { # WAY
  case $1 in
    snapkeep) node "$REPO/dist/cli/main.cjs" backup --config "$WORK/snapkeep.yaml" ;;
    snapkeep-nochecksums) node "$REPO/dist/cli/main.cjs" backup --config "$WORK/snapkeep-nochecksums.yaml" ;;
    tempfile)
      "${DUMP[@]}" >"$WORK/dump.pgdump" || return
      TEMP_PEAK=$(stat -c %s "$WORK/dump.pgdump")
      "$RESTIC" -r "$WORK/repo-tempfile" backup --stdin --stdin-filename bench.pgdump <"$WORK/dump.pgdump" || return
      rm -f "$WORK/dump.pgdump"
      ;;
    pipe) "${DUMP[@]}" | "$RESTIC" -r "$WORK/repo-pipe" backup --stdin --stdin-filename bench.pgdump ;;
  esac
}
: >"$WORK/samples.tsv"
WAYS=(snapkeep snapkeep-nochecksums tempfile pipe)
for ((run = 0; run <= RUNS; run++)); do
  psql -X -q -d bench -c "UPDATE events SET attributes = attributes || jsonb_build_object('round', $run) WHERE id % 100 = $run % 100"
  for ((i = 0; i < ${#WAYS[@]}; i++)); do
    way=${WAYS[(i + run) % ${#WAYS[@]}]}
    sync
    t0=$(date +%s%N)
    RESTIC_CACHE_DIR=$WORK/restic-cache-$way run_way "$way" >"$WORK/$way.$run.log" 2>&1 || {
      tail "$WORK/$way.$run.log" >&2
      die "$way failed in run $run"
    }
    t1=$(date +%s%N)
    if ((run == 0)); then
      log "  warm-up: $(printf '%-20s' "$way") $(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.2f", ns / 1e9 }') s"
      continue
    fi
    printf '%s\t%s\t%s\n' "$way" $(((t1 - t0) / 1000)) "$run" >>"$WORK/samples.tsv"
    log "  run $run: $(printf '%-20s' "$way") $(awk -v ns=$((t1 - t0)) 'BEGIN { printf "%.2f", ns / 1e9 }') s"
  done
done

mkdir -p "$BENCH/results"
OUT=$BENCH/results/restic-dump-$(date +%Y%m%dT%H%M%S).json
node --input-type=module - "$WORK/samples.tsv" "$OUT" "$DB_SIZE" "$TEMP_PEAK" "$("$RESTIC" version | head -1)" "$BENCH/lib/stats.mjs" <<'NODE'
import { readFileSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const [file, out, dbSize, tempPeak, restic, stats] = process.argv.slice(2);
const { median, pairedRatio } = await import(pathToFileURL(stats).href);
const samples = {};
const byRun = {};
for (const line of readFileSync(file, 'utf8').split('\n').filter(Boolean)) {
  const [way, us, run] = line.split('\t');
  (samples[way] ??= []).push(Number(us) / 1e6);
  (byRun[way] ??= {})[run] = Number(us) / 1e6;
}
const m = Object.fromEntries(Object.entries(samples).map(([way, values]) => [way, median(values)]));
// The four ways of a round run back to back: the per-round ratio is steadier on a busy machine.
const paired = (way, base) => pairedRatio(byRun[way], byRun[base]).median;
const rows = [
  ['snapkeep vs tempfile (seed 004)', m.snapkeep / m.tempfile, 0.85, paired('snapkeep', 'tempfile')],
  ['snapkeep vs bare pipe', m.snapkeep / m.pipe, 1.05, paired('snapkeep', 'pipe')],
  ['  checksums: false vs tempfile', m['snapkeep-nochecksums'] / m.tempfile, 0.85, paired('snapkeep-nochecksums', 'tempfile')],
  ['  checksums: false vs bare pipe', m['snapkeep-nochecksums'] / m.pipe, 1.05, paired('snapkeep-nochecksums', 'pipe')],
];
const mib = (bytes) => `${(Number(bytes) / 1024 / 1024).toFixed(0)} MiB`;
console.log(`\n${restic}; database ${mib(dbSize)}; medians of ${samples.snapkeep.length} runs (daily case: ~1 % of rows changed)\n`);
for (const way of ['snapkeep', 'snapkeep-nochecksums', 'tempfile', 'pipe'])
  console.log(`  ${way.padEnd(21)} ${m[way].toFixed(2)} s`);
console.log('');
for (const [label, ratio, goal, pairedRatio] of rows)
  console.log(`  ${label.padEnd(32)} ${ratio.toFixed(2)}x   goal <= ${goal.toFixed(2)}x   ${ratio <= goal ? 'PASS' : 'MISS'}   (paired per round: ${pairedRatio.toFixed(2)}x)`);
console.log(`\n  extra disk: tempfile wrote a ${mib(tempPeak)} dump file per run; snapkeep and the pipe write none`);
writeFileSync(out, JSON.stringify({ restic, databaseBytes: Number(dbSize), tempFileBytes: Number(tempPeak), samplesSeconds: samples, medians: m, ratios: Object.fromEntries(rows.map(([l, r]) => [l, r])), pairedRatios: Object.fromEntries(rows.map(([l, , , p]) => [l, p])) }, null, 2) + '\n');
console.log(`\nresults: ${out}`);
NODE
