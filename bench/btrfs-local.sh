#!/usr/bin/env bash
# snapkeep vs btrbk vs the raw btrfs pipe, on the same data and the same local targets.
#
#   sudo bench/btrfs-local.sh                 # all scenarios, 5 runs each (~5-10 min on 2 cores)
#   BENCH_RUNS=3 sudo bench/btrfs-local.sh    # fewer runs
#
# Needs: root, btrfs-progs, btrbk, hyperfine, node, and a built snapkeep (`npm run build`).
# Environment:
#   BENCH_RUNS=5              measured runs per tool and scenario
#   BENCH_FULL_RUNS=9         measured runs of the full scenario (default: max(9, BENCH_RUNS))
#   BENCH_DATA_MB=1024        data in the main subvolume (scenarios full/incremental/nochange)
#   BENCH_MULTI_MB=128        data in each of the 4 subvolumes of the "multi" scenario
#   BENCH_CHANGE_PERCENT=5    how much of the data changes between incremental runs
#   BENCH_LIST_SNAPSHOTS=1000 snapshots for the list scenario
#   BENCH_SCENARIOS=version,full,incremental,nochange,multi,list   (subset, in this order)
#   SNAPKEEP_CLI=path         snapkeep's main.cjs (default: a frozen copy of this repo's dist/)
#   BENCH_BUILD=1             run `npm run build` first
#   BENCH_TMPDIR=/tmp         where the work directory and its images go; /dev/shm (tmpfs, needs
#                             ~8 GB of RAM) takes the disk's writeback out of the measurements (it
#                             is the same work for every tool); the spread of the rest remains
#
# What it does (all under one `mktemp -d $BENCH_TMPDIR/snapkeep-bench-XXXX`, removed at the end, also on
# failure or Ctrl-C): sparse image files are formatted btrfs and loop-mounted: `src` (the source
# filesystem) and, for every tool, its OWN target filesystems `tgt-<tool>` (and `tgt2-<tool>` for
# the second target of the 4x2 scenario). Every tool gets its own snapshot directory on `src`:
#     src/<subvolume>                         the data (shared by all tools: the SAME bytes)
#     src/snaps/<tool>/<name>.<timestamp>     read-only snapshots
#     tgt-<tool>/main/<name>.<timestamp>      received copies
# so each tool's chain of snapshots and parents is its own, and a change to the data is seen by
# every tool as exactly the same delta. Separate target filesystems matter: btrbk looks for a
# parent among all snapshots of the source that have a copy anywhere on the target filesystem, so
# on a shared one it would send only the difference to another tool's newer copy.
#
# Fairness rules (see also the final message this script prints):
#  - Equivalent configuration: same snapshot/target layout, long timestamps, snapshot_create
#    always (the default of both), a lock file for both (snapkeep always locks; btrbk gets
#    `lockfile`), and retention that deletes NOTHING in either tool (btrbk: `*_preserve_min all`,
#    its default; snapkeep: `preserve_min: all` for snapshots and targets). Both still run their
#    whole prune phase (list, schedule, decide) - it just decides to keep everything.
#  - Every measured run is a fresh state transition: full = the tool's snapshots and copies were
#    deleted (and the btrfs cleaner waited for) before the run; incremental = the data changed
#    since the tool's previous run; no-change = nothing changed since the tool's previous run.
#  - Tools run alternately and the order rotates every run, so none is systematically first after
#    a change (page cache: the changed data is in the cache for all of them; nothing is dropped).
#  - `sync` before every measured run; the clock is read right before and after the command
#    (date +%s%N, nanoseconds; the ~1 ms of the `date` fork is in every tool's figure alike).
#  - snapkeep runs with `--json` (its NDJSON goes to a log file, as btrbk's text does); that gives
#    step durations for the analysis at no measurable cost.
#  - The raw pipe is the floor: `btrfs subvolume snapshot -r` + `btrfs send [-p] | btrfs receive`
#    run by this bash script, with no listing, no verification, no bookkeeping.
set -euo pipefail

RUNS=${BENCH_RUNS:-5}
# Full transfers write ~1 GiB through loop images onto the host disk, whose speed varies with
# everything else on the machine: more runs make their median stable.
FULL_RUNS=${BENCH_FULL_RUNS:-$((RUNS < 9 ? 9 : RUNS))}
DATA_MB=${BENCH_DATA_MB:-1024}
MULTI_MB=${BENCH_MULTI_MB:-128}
CHANGE_PERCENT=${BENCH_CHANGE_PERCENT:-5}
LIST_SNAPSHOTS=${BENCH_LIST_SNAPSHOTS:-1000}
SCENARIOS=${BENCH_SCENARIOS:-version,full,incremental,nochange,multi,list}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$REPO/bench
# shellcheck source=lib/common.sh
source "$BENCH/lib/common.sh"


[[ $(id -u) -eq 0 ]] || die "must run as root (loop devices, btrfs)"
for cmd in btrfs btrbk hyperfine node mkfs.btrfs losetup; do
  command -v "$cmd" >/dev/null || die "$cmd is not installed"
done
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"


unset_node_ca_certs

if [[ ${BENCH_BUILD:-0} == 1 ]]; then (cd "$REPO" && npm run build >&2); fi

WORK=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/snapkeep-bench-XXXX")
MOUNTS=()
trap_bench_cleanup

freeze_snapkeep
SNAPKEEP_VERSION=$(snapkeep --version)

# --- filesystems ---------------------------------------------------------------------------------
SRC=$WORK/mnt/src
tgt() { echo "$WORK/mnt/tgt-$1"; }   # a tool's first target filesystem
tgt2() { echo "$WORK/mnt/tgt2-$1"; } # a tool's second target filesystem (4x2 scenario)
log "work dir $WORK; snapkeep $SNAPKEEP_VERSION ($CLI); $(btrbk --version | head -1)"
make_fs src 6G "$SRC"
for tool in snapkeep btrbk raw snapkeep-p2 snapkeep-p4; do make_fs "tgt-$tool" 6G "$(tgt "$tool")"; done
for tool in btrbk raw snapkeep-p2 snapkeep-p4; do make_fs "tgt2-$tool" 3G "$(tgt2 "$tool")"; done

mkdir -p "$WORK/logs" "$WORK/conf" "$WORK/state" "$WORK/hyperfine"
SAMPLES=$WORK/samples.tsv
CHANGES=$WORK/changes.ndjson
: >"$SAMPLES"
: >"$CHANGES"

# Delete every subvolume directly inside the given directories and wait for the btrfs cleaner, so
# that the next full transfer starts from nothing and no background deletion competes with it.
wipe_dirs() {
  local victims=()
  for dir in "$@"; do
    # snapkeep keeps a `<name>.latest` symlink next to its snapshots: removed, not handed to
    # `btrfs subvolume delete` (which follows it to a snapshot deleted first: "Could not statfs").
    for entry in "$dir"/*; do
      if [[ -L $entry ]]; then rm -f -- "$entry"; elif [[ -e $entry ]]; then victims+=("$entry"); fi
    done
  done
  if ((${#victims[@]})); then btrfs subvolume delete -c "${victims[@]}" >/dev/null; fi
  for mount in "${MOUNTS[@]}"; do btrfs subvolume sync "$mount" >/dev/null; done
}

# --- the raw pipe --------------------------------------------------------------------------------
# raw_cycle SUBVOLUME SNAPDIR BASENAME TARGET...: what every tool must do at least: one read-only
# snapshot and one send | receive per target, incremental from this chain's previous snapshot.
declare -A RAW_PREV=() RAW_COUNT=()
raw_cycle() {
  local subvolume=$1 snapdir=$2 base=$3
  shift 3
  local key="$snapdir/$base"
  local n=$((${RAW_COUNT[$key]:-0} + 1))
  local name
  name=$base.$(printf '%05d' "$n")
  # Explicit `|| return`: measure() calls this in an `||` context, where `set -e` is off.
  btrfs subvolume snapshot -r "$subvolume" "$snapdir/$name" >/dev/null || return
  local parent=${RAW_PREV[$key]:-}
  for target in "$@"; do
    if [[ -n $parent ]]; then
      btrfs send -q -p "$snapdir/$parent" "$snapdir/$name" | btrfs receive "$target" || return
    else
      btrfs send -q "$snapdir/$name" | btrfs receive "$target" || return
    fi
  done
  RAW_PREV[$key]=$name
  RAW_COUNT[$key]=$n
}
raw_forget() { RAW_PREV[$1]=''; }

# --- configurations ------------------------------------------------------------------------------
# snapkeep_config FILE STATE PARALLEL SNAPSHOT_CREATE SNAPDIR "SUBVOLUMES" TARGET_DIR...
snapkeep_config() {
  local file=$1 state=$2 parallel=$3 create=$4 snapdir=$5 subvolumes=$6
  shift 6
  {
    echo "# generated by bench/btrfs-local.sh: retention keeps everything (like btrbk's defaults)"
    echo "state_dir: $state"
    echo "parallel: $parallel"
    echo "defaults:"
    echo "  timestamp_format: long"
    echo "  snapshot_create: $create"
    echo "  snapshot_retention: { preserve_min: all }"
    echo "  target_retention: { preserve_min: all }"
    echo "targets:"
    local i=0 names=()
    for target in "$@"; do
      i=$((i + 1))
      echo "  t$i: { path: $target }"
      names+=("t$i")
    done
    echo "subvolumes:"
    for sv in $subvolumes; do
      echo "  $sv:"
      echo "    path: $SRC/$sv"
      echo "    snapshot_dir: $snapdir"
      echo "    snapshot_name: $sv"
      echo "    targets: [$(
        IFS=,
        echo "${names[*]}"
      )]"
    done
  } >"$file"
}

# btrbk_config FILE SNAPDIR_RELATIVE_TO_SRC "SUBVOLUMES" TARGET_DIR...
btrbk_config() {
  local file=$1 snapdir=$2 subvolumes=$3
  shift 3
  {
    echo "# generated by bench/btrfs-local.sh: retention keeps everything (btrbk's defaults, explicit)"
    echo "timestamp_format        long"
    echo "snapshot_create         always"
    echo "snapshot_preserve_min   all"
    echo "target_preserve_min     all"
    echo "lockfile                $WORK/state/btrbk-$(basename "$file" .conf).lock"
    echo "volume $SRC"
    echo "  snapshot_dir $snapdir"
    for sv in $subvolumes; do
      echo "  subvolume $sv"
      for target in "$@"; do echo "    target $target"; done
    done
  } >"$file"
}

# =================================================================================================
# 5. snapkeep --version (first: it needs no data)
# =================================================================================================
if has_scenario version; then
  log "scenario version: hyperfine"
  hf_runs=$((RUNS * 4 > 20 ? RUNS * 4 : 20))
  hyperfine -N --style none --warmup 3 --runs "$hf_runs" \
    --export-json "$WORK/hyperfine/version.json" \
    -n snapkeep "node $CLI --version" -n btrbk "btrbk --version" >"$WORK/logs/version.hyperfine.log" 2>&1 ||
    die "hyperfine version failed: $(cat "$WORK/logs/version.hyperfine.log")"
fi

# =================================================================================================
# Main subvolume: ~DATA_MB of data; used by full, incremental and nochange.
# =================================================================================================
if has_scenario full || has_scenario incremental || has_scenario nochange; then
  log "populating $SRC/data with ~$DATA_MB MiB"
  btrfs subvolume create "$SRC/data" >/dev/null
  node "$BENCH/lib/data.mjs" populate "$SRC/data" "$DATA_MB" >"$WORK/populate-data.json"
  for tool in snapkeep btrbk raw; do mkdir -p "$SRC/snaps/$tool" "$(tgt $tool)/main"; done
  snapkeep_config "$WORK/conf/snapkeep.yaml" "$WORK/state/snapkeep" 2 always "$SRC/snaps/snapkeep" data "$(tgt snapkeep)/main"
  # Same snapshots and state, snapshot_create: onchange (the extra no-change line).
  snapkeep_config "$WORK/conf/snapkeep-onchange.yaml" "$WORK/state/snapkeep" 2 onchange "$SRC/snaps/snapkeep" data "$(tgt snapkeep)/main"
  btrbk_config "$WORK/conf/btrbk.conf" snaps/btrbk data "$(tgt btrbk)/main"
  sync
fi
MAIN_TOOLS=(snapkeep btrbk raw)
run_main() { # TOOL
  case $1 in
    snapkeep) snapkeep run --json --config "$WORK/conf/snapkeep.yaml" ;;
    snapkeep-onchange) snapkeep run --json --config "$WORK/conf/snapkeep-onchange.yaml" ;;
    btrbk) btrbk -c "$WORK/conf/btrbk.conf" run ;;
    raw) raw_cycle "$SRC/data" "$SRC/snaps/raw" data "$(tgt raw)/main" ;;
  esac
}

# =================================================================================================
# 1. Full transfer: each run starts with no snapshot and no copy of ANY tool: btrbk looks for a
#    parent among all subvolumes related to the source on the filesystem, so another tool's
#    snapshot and copy would turn its "full" run into an incremental one.
# =================================================================================================
wipe_main() {
  local dirs=() each
  for each in "${MAIN_TOOLS[@]}"; do dirs+=("$SRC/snaps/$each" "$(tgt "$each")/main"); done
  wipe_dirs "${dirs[@]}"
  raw_forget "$SRC/snaps/raw/data"
}
if has_scenario full; then
  log "scenario full: $FULL_RUNS runs x ${MAIN_TOOLS[*]}"
  for ((run = 1; run <= FULL_RUNS; run++)); do
    for tool in $(rotated "$run" "${MAIN_TOOLS[@]}"); do
      wipe_main
      measure full "$tool" "$run" run_main "$tool"
    done
  done
  if grep -q '^>>>' "$WORK"/logs/full.btrbk.*.log; then die "btrbk made an incremental transfer in the full scenario (see logs)"; fi
  wipe_main
fi
if has_scenario incremental || has_scenario nochange; then
  log "initial full transfers (not measured)"
  for tool in "${MAIN_TOOLS[@]}"; do run_main "$tool" >"$WORK/logs/initial.$tool.log" 2>&1; done
fi

# =================================================================================================
# 2. Incremental: change ~5 % (rewrite some files, add some), then every tool sends that delta.
# =================================================================================================
if has_scenario incremental; then
  log "scenario incremental: $RUNS runs x ${MAIN_TOOLS[*]}, $CHANGE_PERCENT % changed before each"
  for ((run = 1; run <= RUNS; run++)); do
    change "$SRC/data" "$run"
    for tool in $(rotated "$run" "${MAIN_TOOLS[@]}"); do
      measure incremental "$tool" "$run" run_main "$tool"
    done
  done
fi

# =================================================================================================
# 3. No change: nothing changed since each tool's previous run; snapshot_create always (both tools
#    create a snapshot and send an empty incremental). Then snapkeep with onchange, as an extra line.
# =================================================================================================
if has_scenario nochange; then
  log "scenario nochange: $RUNS runs x ${MAIN_TOOLS[*]}"
  for ((run = 1; run <= RUNS; run++)); do
    for tool in $(rotated "$run" "${MAIN_TOOLS[@]}"); do
      measure nochange "$tool" "$run" run_main "$tool"
    done
  done
  # Snapshotting a subvolume bumps its generation, so onchange compares against whichever tool
  # snapshotted last: one (unmeasured) snapkeep run makes snapkeep's snapshot the newest, then the
  # onchange runs really find nothing to do (no snapshot, nothing to send, nothing to prune).
  run_main snapkeep >"$WORK/logs/nochange.snapkeep.pre-onchange.log" 2>&1
  for ((run = 1; run <= RUNS; run++)); do
    measure nochange snapkeep-onchange "$run" run_main snapkeep-onchange
  done
  if grep -q '"kind":"create-snapshot"' "$WORK"/logs/nochange.snapkeep-onchange.*.log; then
    die "snapkeep onchange created a snapshot although nothing changed (see logs)"
  fi
fi

# =================================================================================================
# 4. Four subvolumes x two target filesystems, incremental (~5 % of each subvolume changed).
# =================================================================================================
MULTI_SUBVOLUMES="sv1 sv2 sv3 sv4"
MULTI_TOOLS=(snapkeep-p2 snapkeep-p4 btrbk raw)
run_multi() { # TOOL
  case $1 in
    snapkeep-p2) snapkeep run --json --config "$WORK/conf/multi-snapkeep-p2.yaml" ;;
    snapkeep-p4) snapkeep run --json --config "$WORK/conf/multi-snapkeep-p4.yaml" ;;
    btrbk) btrbk -c "$WORK/conf/multi-btrbk.conf" run ;;
    raw) # sequential, like btrbk
      for sv in $MULTI_SUBVOLUMES; do
        raw_cycle "$SRC/$sv" "$SRC/snaps/m-raw" "$sv" "$(tgt raw)/multi" "$(tgt2 raw)/multi" || return
      done
      ;;
  esac
}
if has_scenario multi; then
  log "populating 4 subvolumes with ~$MULTI_MB MiB each"
  for sv in $MULTI_SUBVOLUMES; do
    btrfs subvolume create "$SRC/$sv" >/dev/null
    node "$BENCH/lib/data.mjs" populate "$SRC/$sv" "$MULTI_MB" >/dev/null
  done
  for tool in "${MULTI_TOOLS[@]}"; do mkdir -p "$SRC/snaps/m-$tool" "$(tgt "$tool")/multi" "$(tgt2 "$tool")/multi"; done
  for p in 2 4; do
    snapkeep_config "$WORK/conf/multi-snapkeep-p$p.yaml" "$WORK/state/multi-snapkeep-p$p" "$p" always \
      "$SRC/snaps/m-snapkeep-p$p" "$MULTI_SUBVOLUMES" "$(tgt "snapkeep-p$p")/multi" "$(tgt2 "snapkeep-p$p")/multi"
  done
  btrbk_config "$WORK/conf/multi-btrbk.conf" snaps/m-btrbk "$MULTI_SUBVOLUMES" "$(tgt btrbk)/multi" "$(tgt2 btrbk)/multi"
  log "initial full transfers of the 4 subvolumes (not measured)"
  for tool in "${MULTI_TOOLS[@]}"; do run_multi "$tool" >"$WORK/logs/multi-initial.$tool.log" 2>&1; done
  log "scenario multi: $RUNS runs x ${MULTI_TOOLS[*]}, $CHANGE_PERCENT % of each subvolume changed before each"
  for ((run = 1; run <= RUNS; run++)); do
    i=0
    for sv in $MULTI_SUBVOLUMES; do
      i=$((i + 1))
      change "$SRC/$sv" $((100 + run * 10 + i))
    done
    for tool in $(rotated "$run" "${MULTI_TOOLS[@]}"); do
      measure multi "$tool" "$run" run_multi "$tool"
    done
  done
fi

# =================================================================================================
# 6. list over LIST_SNAPSHOTS snapshots (btrbk names, hourly, going back from now) with copies of
#    every 50th on the target. Read-only, so hyperfine runs it (warmup 2).
# =================================================================================================
if has_scenario list; then
  log "creating $LIST_SNAPSHOTS snapshots for the list scenario"
  btrfs subvolume create "$SRC/many" >/dev/null
  node "$BENCH/lib/data.mjs" populate "$SRC/many" 1 >/dev/null
  mkdir -p "$SRC/snaps/list" "$(tgt snapkeep)/list"
  mapfile -t LIST_NAMES < <(node -e '
    const n = Number(process.argv[1]);
    const pad = (v) => String(v).padStart(2, "0");
    const start = Math.floor(Date.now() / 3600000) * 3600000 - n * 3600000;
    for (let i = 0; i < n; i++) {
      const d = new Date(start + i * 3600000);
      console.log(`many.${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}T${pad(d.getHours())}${pad(d.getMinutes())}`);
    }' "$LIST_SNAPSHOTS")
  for name in "${LIST_NAMES[@]}"; do btrfs subvolume snapshot -r "$SRC/many" "$SRC/snaps/list/$name" >/dev/null; done
  prev=''
  copies=0
  for ((i = 0; i < ${#LIST_NAMES[@]}; i += 50)); do
    name=${LIST_NAMES[i]}
    if [[ -n $prev ]]; then
      btrfs send -q -p "$SRC/snaps/list/$prev" "$SRC/snaps/list/$name" | btrfs receive "$(tgt snapkeep)/list" >/dev/null 2>&1
    else
      btrfs send -q "$SRC/snaps/list/$name" | btrfs receive "$(tgt snapkeep)/list" >/dev/null 2>&1
    fi
    prev=$name
    copies=$((copies + 1))
  done
  snapkeep_config "$WORK/conf/list-snapkeep.yaml" "$WORK/state/list" 2 always "$SRC/snaps/list" many "$(tgt snapkeep)/list"
  btrbk_config "$WORK/conf/list-btrbk.conf" snaps/list many "$(tgt snapkeep)/list"
  # Sanity: both see all snapshots.
  sk_lines=$(snapkeep list --config "$WORK/conf/list-snapkeep.yaml" | grep -c ' many\.' || true)
  bt_lines=$(btrbk -c "$WORK/conf/list-btrbk.conf" list snapshots | grep -c '/many\.' || true)
  log "list: snapkeep shows $sk_lines snapshot rows, btrbk $bt_lines ($copies copies on the target)"
  echo "{\"snapshots\":$LIST_SNAPSHOTS,\"copies\":$copies,\"snapkeepRows\":$sk_lines,\"btrbkRows\":$bt_lines}" >"$WORK/list-info.json"
  sync
  hf_runs=$((RUNS * 2 > 10 ? RUNS * 2 : 10))
  log "scenario list: hyperfine, $hf_runs runs each"
  hyperfine -N --style none --warmup 2 --runs "$hf_runs" \
    --export-json "$WORK/hyperfine/list.json" \
    -n snapkeep "node $CLI list --config $WORK/conf/list-snapkeep.yaml" \
    -n btrbk "btrbk -c $WORK/conf/list-btrbk.conf list snapshots" >"$WORK/logs/list.hyperfine.log" 2>&1 ||
    die "hyperfine list failed: $(cat "$WORK/logs/list.hyperfine.log")"
fi

# =================================================================================================
# Report: table on stdout, JSON in bench/results/<timestamp>.json
# =================================================================================================
mkdir -p "$BENCH/results"
STAMP=$(date +%Y%m%dT%H%M%S)
{
  echo "{"
  echo "  \"snapkeepVersion\": \"$SNAPKEEP_VERSION\","
  echo "  \"btrbkVersion\": \"$(btrbk --version | head -1 | sed 's/.*version //')\","
  echo "  \"btrfsProgs\": \"$(btrfs --version | head -1)\","
  echo "  \"kernel\": \"$(uname -r)\","
  echo "  \"cpus\": $(nproc),"
  echo "  \"imagesOn\": \"$(df --output=fstype "$WORK" | tail -1) ($WORK)\","
  echo "  \"loadavgAtEnd\": \"$(cut -d' ' -f1-3 /proc/loadavg)\","
  echo "  \"gitCommit\": \"$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)\","
  echo "  \"gitDirtyFiles\": $(git -C "$REPO" status --porcelain -- src 2>/dev/null | wc -l),"
  echo "  \"listSnapshots\": $LIST_SNAPSHOTS,"
  echo "  \"runs\": $RUNS, \"fullRuns\": $FULL_RUNS, \"dataMiB\": $DATA_MB, \"multiMiB\": $MULTI_MB, \"changePercent\": $CHANGE_PERCENT,"
  echo "  \"scenarios\": \"$SCENARIOS\""
  echo "}"
} >"$WORK/meta.json"
[[ -f $WORK/populate-data.json ]] || echo '{}' >"$WORK/populate-data.json"
[[ -f $WORK/list-info.json ]] || echo '{}' >"$WORK/list-info.json"
# Keep the logs and configs next to the JSON (bench/results/ is git-ignored).
mkdir -p "$BENCH/results/$STAMP"
cp -a "$WORK/logs" "$WORK/conf" "$WORK/changes.ndjson" "$BENCH/results/$STAMP/"
node "$BENCH/lib/report.mjs" "$WORK" "$BENCH/results/$STAMP.json"
echo "logs and configs: $BENCH/results/$STAMP/"
