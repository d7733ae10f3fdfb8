#!/usr/bin/env bash
# snapkeep vs btrbk vs the raw btrfs commands at scale: many subvolumes, one and two targets,
# local and over SSH, and a long history (thousands of snapshots per subvolume) - one run, paired
# rounds, and how the cost grows (the marginal cost per subvolume and per 1,000 snapshots).
#
#   sudo bench/scale.sh                        # everything (~45-60 min on 2 cores)
#   BENCH_SCALE_N=1,10 BENCH_SCALE_SNAPSHOTS=100,1000 BENCH_SCALE_SSH=0 sudo bench/scale.sh   # ~5 min
#
# Needs: root, btrfs-progs, btrbk, openssh-server (for BENCH_SCALE_SSH=1), node, and a built
# snapkeep (`npm run build`).
# Environment:
#   BENCH_RUNS=3                  paired rounds per scenario
#   BENCH_SCALE_N=1,10,50         numbers of subvolumes (the "many subvolumes" scenarios)
#   BENCH_SCALE_TARGETS=1,2       numbers of target filesystems per subvolume
#   BENCH_SCALE_LOCAL=1           targets on this machine
#   BENCH_SCALE_SSH=1             targets over SSH (an sshd this script starts on 127.0.0.1)
#   BENCH_SCALE_KINDS=nochange,incremental
#   BENCH_SCALE_MB=8              data per subvolume
#   BENCH_CHANGE_PERCENT=1        how much of each subvolume changes before an incremental run
#   BENCH_SCALE_SNAPSHOTS=100,1000,10000   existing snapshots per subvolume, on source and target
#                                 (the "history" scenarios; empty: none), ascending
#   BENCH_SCALE_HISTORY_SUBVOLUMES=1       subvolumes with that history
#   BENCH_SCALE_HISTORY_OPS=dryrun,prune,list
#   BENCH_SCALE_RSS=1             after the timed rounds, one more run per tool and scenario under
#                                 bench/lib/peak-rss.mjs (peak RSS of the whole process tree)
#   BENCH_SCALE_PARALLEL=         snapkeep's `parallel:` (default: snapkeep's own default)
#   BENCH_SCALE_BASELINE=         another build's dist/cli/main.cjs (say, a worktree of the commit
#                                 before a change): it runs as one more tool, "baseline", with its
#                                 own snapshot directory and targets, in the same rounds (the many-
#                                 subvolumes scenarios; rows "(vs baseline)")
#   SNAPKEEP_CLI, BENCH_BUILD, BENCH_TMPDIR   as in bench/btrfs-local.sh
#
# What it does (all under one `mktemp -d $BENCH_TMPDIR/snapkeep-scale-XXXX`, removed at the end,
# also on failure or Ctrl-C; sshd is stopped by its PID):
#
# Many subvolumes. Loop-mounted btrfs images: `src` with the data subvolumes sv01..svNN (the same
# bytes for every tool) and, per tool, its OWN target filesystems tgt-<tool> and tgt2-<tool>:
#     src/svNN                              data (BENCH_SCALE_MB each, bench/lib/data.mjs)
#     src/snaps/<tool>/svNN.<timestamp>     read-only snapshots, one directory per tool
#     tgt-<tool>/main/svNN.<timestamp>      copies (tgt2-<tool>/main: the second target)
# Each configuration (local|ssh x N subvolumes x T targets) runs on its own: an initial full
# transfer (not measured), then BENCH_RUNS rounds of [no-change run of every tool] [1 % of every
# subvolume changed] [incremental run of every tool], the tools in a rotating order; then every
# snapshot and copy of that configuration is deleted (and the btrfs cleaner waited for), so the
# next configuration starts from the same state and no listing carries another's snapshots.
#
# History. Per tool its own pair of filesystems (hsrc-<tool>, htgt-<tool>), each with
# BENCH_SCALE_HISTORY_SUBVOLUMES tiny subvolumes (one small file) and, at each level of
# BENCH_SCALE_SNAPSHOTS, that many snapshots per subvolume and a copy of each on the target. Then
# BENCH_RUNS rounds of `run --dry-run` / `btrbk dryrun` (planning), `prune` / `btrbk prune`
# (scheduling 10,000 entries; the policy keeps everything, so it is repeatable), `list` /
# `btrbk list snapshots` (as bench/btrfs-local.sh; btrbk's listing is quadratic: ~2.5 min a call
# at 10,000 snapshots here), and as the floor `btrfs subvolume list` of both filesystems (the least any
# plan must read). The levels grow in place (100, then 900 more, then 9,000 more), oldest first.
# How the fixture is made fast and still real:
#  - Snapshots: one `btrfs subvolume snapshot -r` per snapshot of the tiny subvolume (a few ms
#    each: metadata only), named in btrbk's grammar, hourly, in time order (their creation
#    generations rise with their dates, as in a real history).
#  - Copies: real receives, so each has a received UUID (= its snapshot's UUID), is read-only, and
#    has a parent UUID, exactly as a tool's copies: one `btrfs send -p <first> <snap>...` of up to
#    500 snapshots per process, piped into ONE `btrfs receive` (it receives every subvolume of a
#    multi-subvolume stream). Snapshotting received copies instead would give them no received
#    UUID: no tool would recognise them as copies.
#  - While the fixture is made the filesystems are mounted `nobarrier` (a commit does not wait for
#    the host disk; ~4x faster for thousands of commits), and remounted `barrier` before anything
#    is measured.
#  - Retention keeps everything by its matrix, not by a minimum: `preserve_min: latest`,
#    `preserve: "*h"` (btrbk: `*_preserve_min latest`, `*_preserve *h`), so both tools really
#    schedule every entry (hourly buckets, all kept) and delete nothing.
#
# Fairness rules (as bench/btrfs-local.sh and bench/btrfs-ssh.sh):
#  - Equivalent configuration: same layout, long timestamps, snapshot_create always, a lock file
#    for both, retention that deletes nothing. btrbk runs as configured by default (sequential, a
#    new ssh connection per command, its default cipher); snapkeep and the raw pipe use
#    `-c aes128-gcm@openssh.com` over ssh; snapkeep runs with `--json` into a log file.
#  - The raw commands are the floor: per subvolume and target, sequentially, `btrfs subvolume
#    snapshot -r` + `btrfs send [-p previous] | [ssh ...] btrfs receive`, from this script; no
#    listing, no verification, no bookkeeping (one new ssh connection per receive over ssh).
#  - Tools alternate in a rotating order within each round; `sync` before every measured command;
#    the clock is read right before and after it. The paired ratio is the median of the per-round
#    ratios (stats.mjs): the steadier figure on a shared machine.
#  - Peak memory is measured in separate, untimed runs (the sampler reads /proc every 4 ms).
set -euo pipefail

RUNS=${BENCH_RUNS:-3}
SCALE_N=${BENCH_SCALE_N-1,10,50}
SCALE_TARGETS=${BENCH_SCALE_TARGETS:-1,2}
SCALE_LOCAL=${BENCH_SCALE_LOCAL:-1}
SCALE_SSH=${BENCH_SCALE_SSH:-1}
SCALE_KINDS=${BENCH_SCALE_KINDS:-nochange,incremental}
SCALE_MB=${BENCH_SCALE_MB:-8}
CHANGE_PERCENT=${BENCH_CHANGE_PERCENT:-1}
SCALE_SNAPSHOTS=${BENCH_SCALE_SNAPSHOTS-100,1000,10000}
HISTORY_SUBVOLUMES=${BENCH_SCALE_HISTORY_SUBVOLUMES:-1}
HISTORY_OPS=${BENCH_SCALE_HISTORY_OPS:-dryrun,prune,list}
SCALE_RSS=${BENCH_SCALE_RSS:-1}
PARALLEL=${BENCH_SCALE_PARALLEL:-}
BASELINE=${BENCH_SCALE_BASELINE:-}
CIPHER=aes128-gcm@openssh.com

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$REPO/bench
# shellcheck source=lib/common.sh
source "$BENCH/lib/common.sh"

[[ $(id -u) -eq 0 ]] || die "must run as root (loop devices, btrfs, sshd)"
for cmd in btrfs btrbk node mkfs.btrfs losetup; do
  command -v "$cmd" >/dev/null || die "$cmd is not installed"
done
if [[ $SCALE_SSH == 1 ]]; then
  for cmd in ssh ssh-keygen /usr/sbin/sshd; do command -v "$cmd" >/dev/null || die "$cmd is not installed"; done
fi
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "BENCH_RUNS must be a positive integer"
list_of() { tr ',' ' ' <<<"$1"; }
for n in $(list_of "$SCALE_N"); do [[ $n =~ ^[1-9][0-9]*$ && $n -le 99 ]] || die "BENCH_SCALE_N: $n is not a number 1-99"; done
for t in $(list_of "$SCALE_TARGETS"); do [[ $t == 1 || $t == 2 ]] || die "BENCH_SCALE_TARGETS: $t is not 1 or 2"; done
for s in $(list_of "$SCALE_SNAPSHOTS"); do [[ $s =~ ^[1-9][0-9]*$ ]] || die "BENCH_SCALE_SNAPSHOTS: $s is not a positive number"; done
[[ $HISTORY_SUBVOLUMES =~ ^[1-9]$ ]] || die "BENCH_SCALE_HISTORY_SUBVOLUMES must be 1-9"
[[ -z $BASELINE || -f $BASELINE ]] || die "BENCH_SCALE_BASELINE: $BASELINE is not a file (a build's dist/cli/main.cjs)"
has_kind() { [[ ",$SCALE_KINDS," == *",$1,"* ]]; }
has_op() { [[ ",$HISTORY_OPS," == *",$1,"* ]]; }

unset_node_ca_certs
if [[ ${BENCH_BUILD:-0} == 1 ]]; then (cd "$REPO" && npm run build >&2); fi

WORK=$(mktemp -d "${BENCH_TMPDIR:-/tmp}/snapkeep-scale-XXXX")
MOUNTS=()
SSHD_PID=''
BENCH_USER=''
trap_bench_cleanup

freeze_snapkeep
SNAPKEEP_VERSION=$(snapkeep --version)
mkdir -p "$WORK/logs" "$WORK/conf" "$WORK/state" "$WORK/rss"
SAMPLES=$WORK/samples.tsv
CHANGES=$WORK/changes.ndjson
: >"$SAMPLES"
: >"$CHANGES"
ROWS=() # rows.json entries for report.mjs

# rss SCENARIO TOOL argv...: one untimed run under the sampler (its output goes to a log).
rss() {
  local scenario=$1 tool=$2
  shift 2
  [[ $SCALE_RSS == 1 ]] || return 0
  sync
  node "$BENCH/lib/peak-rss.mjs" "$WORK/rss/$scenario.$tool.json" -- "$@" >"$WORK/logs/$scenario.$tool.rss.log" 2>&1 ||
    die "$tool failed in the memory run of $scenario (see $WORK/logs/$scenario.$tool.rss.log)"
}

# Delete every subvolume directly inside the given directories, then wait for the btrfs cleaner.
wipe_dirs() {
  local victims=() dir entry mount
  for dir in "$@"; do
    # Subvolumes only (inode 256): snapkeep keeps a `latest` symlink next to its snapshots.
    for entry in "$dir"/*; do [[ -d $entry && ! -L $entry && $(stat -c %i "$entry") == 256 ]] && victims+=("$entry"); done
  done
  if ((${#victims[@]})); then printf '%s\0' "${victims[@]}" | xargs -0 -n 200 btrfs subvolume delete -c >/dev/null; fi
  for mount in "${MOUNTS[@]}"; do btrfs subvolume sync "$mount" >/dev/null; done
}

snapkeep_common() { # STATE_DIR RETENTION_YAML
  echo "state_dir: $1"
  [[ -n $PARALLEL ]] && echo "parallel: $PARALLEL"
  echo "defaults:"
  echo "  timestamp_format: long"
  echo "  snapshot_create: always"
  echo "  snapshot_retention: $2"
  echo "  target_retention: $2"
}

# =================================================================================================
# Many subvolumes
# =================================================================================================
TOOLS=(snapkeep btrbk raw)
[[ -n $BASELINE ]] && TOOLS+=(baseline)
MAX_N=0
for n in $(list_of "$SCALE_N"); do ((n > MAX_N)) && MAX_N=$n; done
sv_name() { printf 'sv%02d' "$1"; }
SRC=$WORK/mnt/src
tgt_of() { echo "$WORK/mnt/tgt$([[ $2 == 2 ]] && echo 2)-$1/main"; } # TOOL INDEX

if [[ $SCALE_LOCAL == 1 || $SCALE_SSH == 1 ]] && [[ -n $SCALE_N ]]; then
  src_gb=$(((MAX_N * SCALE_MB * 3 + 1023) / 1024 + 2))
  tgt_gb=$(((MAX_N * SCALE_MB * 2 + 1023) / 1024 + 1))
  log "work dir $WORK; snapkeep $SNAPKEEP_VERSION ($CLI); $(btrbk --version | head -1)"
  make_fs src "${src_gb}G" "$SRC"
  for tool in "${TOOLS[@]}"; do
    make_fs "tgt-$tool" "${tgt_gb}G" "$WORK/mnt/tgt-$tool"
    mkdir -p "$WORK/mnt/tgt-$tool/main"
    if [[ ",$SCALE_TARGETS," == *,2,* ]]; then
      make_fs "tgt2-$tool" "${tgt_gb}G" "$WORK/mnt/tgt2-$tool"
      mkdir -p "$WORK/mnt/tgt2-$tool/main"
    fi
    mkdir -p "$SRC/snaps/$tool"
  done
  log "populating $MAX_N subvolumes with ~$SCALE_MB MiB each"
  for ((i = 1; i <= MAX_N; i++)); do
    btrfs subvolume create "$SRC/$(sv_name "$i")" >/dev/null
    node "$BENCH/lib/data.mjs" populate "$SRC/$(sv_name "$i")" "$SCALE_MB" >/dev/null
  done
  sync
fi
if [[ $SCALE_SSH == 1 && -n $SCALE_N ]]; then
  start_bench_sshd
  log "sshd on 127.0.0.1:$PORT (pid $SSHD_PID)"
fi

# --- the raw commands ----------------------------------------------------------------------------
declare -A RAW_PREV=() RAW_COUNT=()
# raw_cycle SUBVOLUME BASENAME TRANSPORT TARGET_DIR...: one snapshot, one send | receive per target.
raw_cycle() {
  local subvolume=$1 base=$2 transport=$3
  shift 3
  local n=$((${RAW_COUNT[$base]:-0} + 1)) name parent target
  name=$base.$(printf '%05d' "$n")
  # Explicit `|| return`: measure() calls this in an `||` context, where `set -e` is off.
  btrfs subvolume snapshot -r "$subvolume" "$SRC/snaps/raw/$name" >/dev/null || return
  parent=${RAW_PREV[$base]:-}
  local send=(btrfs send -q)
  [[ -n $parent ]] && send+=(-p "$SRC/snaps/raw/$parent")
  for target in "$@"; do
    if [[ $transport == ssh ]]; then
      "${send[@]}" "$SRC/snaps/raw/$name" | ssh "${SSH_OPTS[@]}" -c "$CIPHER" "$BENCH_USER@127.0.0.1" btrfs receive "$target" || return
    else
      "${send[@]}" "$SRC/snaps/raw/$name" | btrfs receive "$target" || return
    fi
  done
  RAW_PREV[$base]=$name
  RAW_COUNT[$base]=$n
}
raw_all() { # TRANSPORT N T: sequentially, like btrbk
  local transport=$1 n=$2 t=$3 i targets
  for ((i = 1; i <= n; i++)); do
    targets=("$(tgt_of raw 1)")
    ((t == 2)) && targets+=("$(tgt_of raw 2)")
    raw_cycle "$SRC/$(sv_name "$i")" "$(sv_name "$i")" "$transport" "${targets[@]}" || return
  done
}

# --- configurations ------------------------------------------------------------------------------
# write_snapkeep_config ID TRANSPORT N T TOOL FILE: snapkeep's configuration for TOOL (snapkeep or
# baseline: each its own snapshot directory, targets and state).
write_snapkeep_config() {
  local id=$1 transport=$2 n=$3 t=$4 tool=$5 file=$6 i j target
  {
    echo "# generated by bench/scale.sh: $transport, $n subvolumes x $t targets; retention keeps everything"
    snapkeep_common "$WORK/state/$id-$tool" '{ preserve_min: all }'
    if [[ $transport == ssh ]]; then
      echo "ssh:"
      echo "  identity_file: $WORK/ssh/client_key"
      echo "  known_hosts: $WORK/ssh/known_hosts"
      echo "  cipher: $CIPHER"
      echo "  sudo: false"
    fi
    echo "targets:"
    for ((j = 1; j <= t; j++)); do
      target=$(tgt_of "$tool" "$j")
      [[ $transport == ssh ]] && target="ssh://$BENCH_USER@127.0.0.1:$PORT$target"
      echo "  t$j: { path: \"$target\" }"
    done
    echo "subvolumes:"
    for ((i = 1; i <= n; i++)); do
      echo "  $(sv_name "$i"):"
      echo "    path: $SRC/$(sv_name "$i")"
      echo "    snapshot_dir: $SRC/snaps/$tool"
      echo "    targets: [$(seq -s, -f 't%g' 1 "$t")]"
    done
  } >"$file"
}

# write_configs ID TRANSPORT N T: conf/ID.yaml (snapkeep) and conf/ID.conf (btrbk).
write_configs() {
  local id=$1 transport=$2 n=$3 t=$4 i j target
  write_snapkeep_config "$id" "$transport" "$n" "$t" snapkeep "$WORK/conf/$id.yaml"
  [[ -n $BASELINE ]] && write_snapkeep_config "$id" "$transport" "$n" "$t" baseline "$WORK/conf/$id.baseline.yaml"
  {
    echo "# generated by bench/scale.sh: $transport, $n subvolumes x $t targets; btrbk defaults (retention keeps everything, explicit)"
    echo "timestamp_format        long"
    echo "snapshot_create         always"
    echo "snapshot_preserve_min   all"
    echo "target_preserve_min     all"
    echo "lockfile                $WORK/state/btrbk-$id.lock"
    if [[ $transport == ssh ]]; then
      echo "ssh_identity            $WORK/ssh/client_key"
      echo "ssh_user                $BENCH_USER"
    fi
    echo "volume $SRC"
    echo "  snapshot_dir snaps/btrbk"
    for ((i = 1; i <= n; i++)); do
      echo "  subvolume $(sv_name "$i")"
      for ((j = 1; j <= t; j++)); do
        target=$(tgt_of btrbk "$j")
        [[ $transport == ssh ]] && target="ssh://127.0.0.1:$PORT$target"
        echo "    target $target"
      done
    done
  } >"$WORK/conf/$id.conf"
}

run_tool() { # ID TRANSPORT N T TOOL
  local id=$1 transport=$2 n=$3 t=$4
  case $5 in
    snapkeep) snapkeep run --json --config "$WORK/conf/$id.yaml" ;;
    baseline) node "$BASELINE" run --json --config "$WORK/conf/$id.baseline.yaml" ;;
    btrbk) PATH="$WORK/bin:$PATH" btrbk -c "$WORK/conf/$id.conf" run ;;
    raw) raw_all "$transport" "$n" "$t" ;;
  esac
}

wipe_configuration() {
  local dirs=() tool
  for tool in "${TOOLS[@]}"; do
    dirs+=("$SRC/snaps/$tool" "$(tgt_of "$tool" 1)")
    [[ -d $(tgt_of "$tool" 2) ]] && dirs+=("$(tgt_of "$tool" 2)")
  done
  wipe_dirs "${dirs[@]}"
  RAW_PREV=()
}

many_subvolumes() { # TRANSPORT N T
  local transport=$1 n=$2 t=$3 id run tool i kind
  id=$transport-n$n-t$t
  write_configs "$id" "$transport" "$n" "$t"
  log "[$id] initial full transfers (not measured)"
  for tool in "${TOOLS[@]}"; do
    run_tool "$id" "$transport" "$n" "$t" "$tool" >"$WORK/logs/$id-initial.$tool.log" 2>&1 ||
      die "$tool initial run of $id failed: $(tail -n 20 "$WORK/logs/$id-initial.$tool.log")"
  done
  for ((run = 1; run <= RUNS; run++)); do
    if has_kind nochange; then
      for tool in $(rotated "$run" "${TOOLS[@]}"); do
        measure "$id-nochange" "$tool" "$run" run_tool "$id" "$transport" "$n" "$t" "$tool"
      done
    fi
    if has_kind incremental; then
      for ((i = 1; i <= n; i++)); do change "$SRC/$(sv_name "$i")" $((run * 100 + i)); done
      for tool in $(rotated "$run" "${TOOLS[@]}"); do
        measure "$id-incremental" "$tool" "$run" run_tool "$id" "$transport" "$n" "$t" "$tool"
      done
    fi
  done
  # Peak memory: one more no-change run each (what the last round left is unchanged).
  kind=$(has_kind nochange && echo nochange || echo incremental)
  rss "$id-$kind" snapkeep node "$CLI" run --json --config "$WORK/conf/$id.yaml"
  rss "$id-$kind" btrbk env PATH="$WORK/bin:$PATH" btrbk -c "$WORK/conf/$id.conf" run
  for kind in nochange incremental; do
    has_kind "$kind" || continue
    ROWS+=("{\"id\":\"$id-$kind\",\"label\":\"$id $kind\",\"sk\":\"snapkeep\",\"vs\":\"btrbk\"}")
    ROWS+=("{\"id\":\"$id-$kind\",\"label\":\"  (vs raw)\",\"sk\":\"snapkeep\",\"vs\":\"raw\"}")
    [[ -n $BASELINE ]] && ROWS+=("{\"id\":\"$id-$kind\",\"label\":\"  (vs baseline)\",\"sk\":\"snapkeep\",\"vs\":\"baseline\"}")
  done
  log "[$id] deleting its snapshots and copies"
  wipe_configuration
}

for transport in local ssh; do
  [[ $transport == local && $SCALE_LOCAL == 1 ]] || [[ $transport == ssh && $SCALE_SSH == 1 ]] || continue
  for t in $(list_of "$SCALE_TARGETS"); do
    for n in $(list_of "$SCALE_N"); do many_subvolumes "$transport" "$n" "$t"; done
  done
done

# =================================================================================================
# History: thousands of snapshots per subvolume
# =================================================================================================
HTOOLS=(snapkeep btrbk)
hsrc() { echo "$WORK/mnt/hsrc-$1"; }
htgt() { echo "$WORK/mnt/htgt-$1"; }
hname() { printf 'h%02d' "$1"; }
HISTORY_MAX=0
for s in $(list_of "$SCALE_SNAPSHOTS"); do ((s > HISTORY_MAX)) && HISTORY_MAX=$s; done
HISTORY_HAVE=0

# Hourly snapshot names in btrbk's long grammar for snapshots FROM..TO (1-based, oldest first) of
# a history of HISTORY_MAX hours ending an hour before now (UTC offsets do not matter: local time
# both ways).
history_names() { # BASENAME FROM TO
  node -e '
    const [base, from, to, max] = process.argv.slice(1).map((v, i) => (i ? Number(v) : v));
    const pad = (v) => String(v).padStart(2, "0");
    const start = Math.floor(Date.now() / 3600000) * 3600000 - max * 3600000;
    for (let i = from; i <= to; i++) {
      const d = new Date(start + (i - 1) * 3600000);
      console.log(`${base}.${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}T${pad(d.getHours())}${pad(d.getMinutes())}`);
    }' "$1" "$2" "$3" "$HISTORY_MAX"
}

# Grow every tool's history to LEVEL snapshots per subvolume (and a copy of each).
grow_history() {
  local level=$1 tool i base from=$((HISTORY_HAVE + 1)) names first
  for tool in "${HTOOLS[@]}"; do
    mount -o remount,nobarrier "$(hsrc "$tool")"
    mount -o remount,nobarrier "$(htgt "$tool")"
    for ((i = 1; i <= HISTORY_SUBVOLUMES; i++)); do
      base=$(hname "$i")
      mapfile -t names < <(history_names "$base" "$from" "$level")
      for name in "${names[@]}"; do
        btrfs subvolume snapshot -r "$(hsrc "$tool")/$base" "$(hsrc "$tool")/snaps/$name" >/dev/null
      done
      (
        cd "$(hsrc "$tool")/snaps"
        first=$(history_names "$base" 1 1)
        if ((from == 1)); then
          btrfs send -q "$first" 2>/dev/null | btrfs receive "$(htgt "$tool")/main" >/dev/null 2>&1
          names=("${names[@]:1}")
        fi
        for ((k = 0; k < ${#names[@]}; k += 500)); do
          btrfs send -q -p "$first" "${names[@]:k:500}" 2>/dev/null | btrfs receive "$(htgt "$tool")/main" >/dev/null 2>&1
        done
      ) || die "making the history copies failed"
    done
    mount -o remount,barrier "$(hsrc "$tool")"
    mount -o remount,barrier "$(htgt "$tool")"
    local have
    have=$(find "$(htgt "$tool")/main" -mindepth 1 -maxdepth 1 -type d | wc -l)
    ((have == level * HISTORY_SUBVOLUMES)) || die "history of $tool: $have copies, expected $((level * HISTORY_SUBVOLUMES))"
  done
  HISTORY_HAVE=$level
  sync
}

history_tool() { # OP TOOL
  case $1.$2 in
    dryrun.snapkeep) snapkeep run --dry-run --json --config "$WORK/conf/history.yaml" ;;
    dryrun.btrbk) btrbk -c "$WORK/conf/history.conf" dryrun ;;
    prune.snapkeep) snapkeep prune --json --config "$WORK/conf/history.yaml" ;;
    prune.btrbk) btrbk -c "$WORK/conf/history.conf" prune ;;
    list.snapkeep) snapkeep list --config "$WORK/conf/history.yaml" ;;
    list.btrbk) btrbk -c "$WORK/conf/history.conf" list snapshots ;;
    *.raw) btrfs subvolume list -a -u -q -R -c -g "$(hsrc raw-floor)" && btrfs subvolume list -a -u -q -R -c -g "$(htgt raw-floor)" ;;
  esac
}
history_argv() { # OP TOOL: the same, as an argv for the sampler
  case $1.$2 in
    dryrun.snapkeep) echo node "$CLI" run --dry-run --json --config "$WORK/conf/history.yaml" ;;
    dryrun.btrbk) echo btrbk -c "$WORK/conf/history.conf" dryrun ;;
    prune.snapkeep) echo node "$CLI" prune --json --config "$WORK/conf/history.yaml" ;;
    prune.btrbk) echo btrbk -c "$WORK/conf/history.conf" prune ;;
    list.snapkeep) echo node "$CLI" list --config "$WORK/conf/history.yaml" ;;
    list.btrbk) echo btrbk -c "$WORK/conf/history.conf" list snapshots ;;
  esac
}

if [[ -n $SCALE_SNAPSHOTS ]]; then
  fs_mb=$((HISTORY_MAX * HISTORY_SUBVOLUMES / 10 + 512))
  for tool in "${HTOOLS[@]}"; do
    make_fs "hsrc-$tool" "${fs_mb}M" "$(hsrc "$tool")"
    make_fs "htgt-$tool" "${fs_mb}M" "$(htgt "$tool")"
    mkdir -p "$(hsrc "$tool")/snaps" "$(htgt "$tool")/main"
    for ((i = 1; i <= HISTORY_SUBVOLUMES; i++)); do
      btrfs subvolume create "$(hsrc "$tool")/$(hname "$i")" >/dev/null
      echo "tiny" >"$(hsrc "$tool")/$(hname "$i")/file"
    done
  done
  # The raw floor lists snapkeep's pair of filesystems (the same size as btrbk's).
  ln -s "$(hsrc snapkeep)" "$WORK/mnt/hsrc-raw-floor"
  ln -s "$(htgt snapkeep)" "$WORK/mnt/htgt-raw-floor"
  retention='{ preserve_min: latest, preserve: "*h" }'
  {
    echo "# generated by bench/scale.sh: history; retention schedules every snapshot and keeps all"
    snapkeep_common "$WORK/state/history" "$retention"
    echo "targets:"
    echo "  main: { path: $(htgt snapkeep)/main }"
    echo "subvolumes:"
    for ((i = 1; i <= HISTORY_SUBVOLUMES; i++)); do
      echo "  $(hname "$i"):"
      echo "    path: $(hsrc snapkeep)/$(hname "$i")"
      echo "    snapshot_dir: $(hsrc snapkeep)/snaps"
      echo "    targets: [main]"
    done
  } >"$WORK/conf/history.yaml"
  {
    echo "# generated by bench/scale.sh: history; retention schedules every snapshot and keeps all"
    echo "timestamp_format        long"
    echo "snapshot_create         always"
    echo "snapshot_preserve_min   latest"
    echo "snapshot_preserve       *h"
    echo "target_preserve_min     latest"
    echo "target_preserve         *h"
    echo "lockfile                $WORK/state/btrbk-history.lock"
    echo "volume $(hsrc btrbk)"
    echo "  snapshot_dir snaps"
    for ((i = 1; i <= HISTORY_SUBVOLUMES; i++)); do
      echo "  subvolume $(hname "$i")"
      echo "    target $(htgt btrbk)/main"
    done
  } >"$WORK/conf/history.conf"
  HISTORY_LEVELS=()
  for level in $(list_of "$SCALE_SNAPSHOTS"); do
    ((level > HISTORY_HAVE)) || die "BENCH_SCALE_SNAPSHOTS must ascend"
    log "[history] growing to $level snapshots per subvolume (and copies)"
    t0=$(date +%s)
    grow_history "$level"
    log "[history] $level snapshots ready ($(($(date +%s) - t0)) s)"
    HISTORY_LEVELS+=("$level")
    for op in dryrun prune list; do
      has_op "$op" || continue
      id=history-$level-$op
      tools=(snapkeep btrbk)
      [[ $op == dryrun ]] && tools+=(raw)
      for ((run = 1; run <= RUNS; run++)); do
        for tool in $(rotated "$run" "${tools[@]}"); do measure "$id" "$tool" "$run" history_tool "$op" "$tool"; done
      done
      # shellcheck disable=SC2046 # history_argv prints words without spaces
      rss "$id" snapkeep $(history_argv "$op" snapkeep)
      # shellcheck disable=SC2046
      rss "$id" btrbk $(history_argv "$op" btrbk)
      ROWS+=("{\"id\":\"$id\",\"label\":\"$id\",\"sk\":\"snapkeep\",\"vs\":\"btrbk\"}")
    done
    # Sanity: both tools saw the whole history (their first measured list).
    if has_op list; then
      sk_rows=$(grep -c ' h[0-9][0-9]\.' "$WORK/logs/history-$level-list.snapkeep.1.log" || true)
      bt_rows=$(grep -c '/h[0-9][0-9]\.' "$WORK/logs/history-$level-list.btrbk.1.log" || true)
      log "[history] $level: snapkeep list shows $sk_rows snapshot rows, btrbk $bt_rows"
      ((sk_rows >= level * HISTORY_SUBVOLUMES && bt_rows >= level * HISTORY_SUBVOLUMES)) || die "a tool does not see the whole history (see the list logs)"
    fi
  done
fi

# =================================================================================================
# Report: report.mjs (medians, ratios, paired ratios), then scale-report.mjs (peak memory,
# marginal costs, the issue's goals); JSON in bench/results/scale-<timestamp>.json
# =================================================================================================
{
  echo "["
  for ((i = 0; i < ${#ROWS[@]}; i++)); do
    printf '  %s%s\n' "${ROWS[i]}" "$([[ $i -lt $((${#ROWS[@]} - 1)) ]] && echo ,)"
  done
  echo "]"
} >"$WORK/rows.json"
{
  echo "{"
  echo "  \"bench\": \"scale\","
  echo "  \"heading\": \"snapkeep $SNAPKEEP_VERSION vs btrbk $(btrbk --version | head -1 | sed 's/.*version //') vs raw; medians of $RUNS paired rounds; $SCALE_MB MiB per subvolume, $CHANGE_PERCENT % changed per incremental; images on $(df --output=fstype "$WORK" | tail -1)\","
  echo "  \"snapkeepVersion\": \"$SNAPKEEP_VERSION\","
  echo "  \"btrbkVersion\": \"$(btrbk --version | head -1 | sed 's/.*version //')\","
  echo "  \"btrfsProgs\": \"$(btrfs --version | head -1)\","
  echo "  \"kernel\": \"$(uname -r)\", \"cpus\": $(nproc),"
  echo "  \"imagesOn\": \"$(df --output=fstype "$WORK" | tail -1) ($WORK)\","
  echo "  \"loadavgAtEnd\": \"$(cut -d' ' -f1-3 /proc/loadavg)\","
  echo "  \"gitCommit\": \"$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)\","
  echo "  \"gitDirtyFiles\": $(git -C "$REPO" status --porcelain -- src 2>/dev/null | wc -l),"
  echo "  \"runs\": $RUNS, \"mibPerSubvolume\": $SCALE_MB, \"changePercent\": $CHANGE_PERCENT,"
  echo "  \"subvolumeCounts\": [${SCALE_N}], \"targetCounts\": [${SCALE_TARGETS}],"
  echo "  \"snapshotLevels\": [${SCALE_SNAPSHOTS}], \"historySubvolumes\": $HISTORY_SUBVOLUMES,"
  echo "  \"parallel\": \"${PARALLEL:-default}\", \"cipher\": \"$CIPHER (snapkeep and raw; btrbk: ssh default)\""
  echo "}"
} >"$WORK/meta.json"
mkdir -p "$BENCH/results"
STAMP=scale-$(date +%Y%m%dT%H%M%S)
mkdir -p "$BENCH/results/$STAMP"
cp -a "$WORK/logs" "$WORK/conf" "$WORK/rss" "$WORK/changes.ndjson" "$WORK/samples.tsv" "$BENCH/results/$STAMP/"
node "$BENCH/lib/report.mjs" "$WORK" "$BENCH/results/$STAMP.json"
node "$BENCH/lib/scale-report.mjs" "$WORK" "$BENCH/results/$STAMP.json"
echo "logs and configs: $BENCH/results/$STAMP/"
