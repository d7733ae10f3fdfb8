#!/usr/bin/env bash
# snapkeep vs btrbk vs the raw `btrfs send | ssh … btrfs receive` pipe, to a target over SSH on
# loopback (an sshd this script starts on 127.0.0.1), on the same data, in one run.
#
#   sudo bench/btrfs-ssh.sh                  # full, incremental, no-change; 5 runs each
#   BENCH_RUNS=3 BENCH_DATA_MB=512 sudo bench/btrfs-ssh.sh
#
# Needs: root, btrfs-progs, btrbk, openssh-server, node, and a built snapkeep (`npm run build`).
# Environment: BENCH_RUNS=5, BENCH_FULL_RUNS=5, BENCH_DATA_MB=1024, BENCH_CHANGE_PERCENT=5,
#   BENCH_SCENARIOS=full,incremental,nochange, SNAPKEEP_CLI=path (default: a frozen copy of dist/).
#
# Setup (all under one `mktemp -d /tmp/snapkeep-sshbench-XXXX`, removed at the end, also on
# failure or Ctrl-C; sshd is stopped by its PID): loop-mounted btrfs images `src` and one target
# filesystem per tool. The "remote" host is this machine through its own sshd (own config, own
# host key, root login with a key only, an authorized_keys file in the work directory, no forced
# command for any tool), so every byte and every command crosses a real SSH connection.
#
# Fairness rules:
#  - btrbk runs with its default settings (its default cipher, a new ssh connection per command,
#    which is how btrbk works). A tiny `ssh` wrapper earlier in btrbk's PATH adds only
#    `-o UserKnownHostsFile=<this run's file>` (btrbk has no setting for it; root's own
#    known_hosts is not touched). It costs one `sh` exec per ssh call (~1 ms).
#  - All tools log in as a uid-0 user with /bin/sh (see below), so no tool pays for root's dotfiles.
#  - snapkeep and the raw pipe use `-c aes128-gcm@openssh.com` (what the issue asks for; the
#    fastest cipher with AES-NI). snapkeep runs as uid 0 on the target (sudo: false), like btrbk.
#  - Same layout and retention as bench/btrfs-local.sh: long timestamps, snapshot_create always,
#    nothing deleted by either tool; full runs start from nothing; tools alternate in a rotating
#    order; `sync` before each measured run.
#  - The raw pipe is the floor: snapshot + `btrfs send [-p] | ssh … btrfs receive`.
set -euo pipefail

RUNS=${BENCH_RUNS:-5}
FULL_RUNS=${BENCH_FULL_RUNS:-$RUNS}
DATA_MB=${BENCH_DATA_MB:-1024}
CHANGE_PERCENT=${BENCH_CHANGE_PERCENT:-5}
SCENARIOS=${BENCH_SCENARIOS:-full,incremental,nochange}
CIPHER=aes128-gcm@openssh.com

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$REPO/bench
# shellcheck source=lib/common.sh
source "$BENCH/lib/common.sh"


[[ $(id -u) -eq 0 ]] || die "must run as root (loop devices, btrfs, sshd)"
for cmd in btrfs btrbk node mkfs.btrfs losetup ssh ssh-keygen /usr/sbin/sshd; do
  command -v "$cmd" >/dev/null || die "$cmd is not installed"
done
unset_node_ca_certs

WORK=$(mktemp -d /tmp/snapkeep-sshbench-XXXX)
MOUNTS=()
SSHD_PID=''
BENCH_USER=''
trap_bench_cleanup

freeze_snapkeep
SNAPKEEP_VERSION=$(snapkeep --version)

# --- sshd on 127.0.0.1 (common.sh: own config and host key, a uid-0 login user with /bin/sh) ---
start_bench_sshd

# --- filesystems ---------------------------------------------------------------------------------
SRC=$WORK/mnt/src
tgt() { echo "$WORK/mnt/tgt-$1"; }
log "work dir $WORK; sshd on 127.0.0.1:$PORT (pid $SSHD_PID); snapkeep $SNAPKEEP_VERSION; $(btrbk --version | head -1)"
make_fs src 4G "$SRC"
TOOLS=(snapkeep btrbk raw)
for tool in "${TOOLS[@]}"; do make_fs "tgt-$tool" 4G "$(tgt "$tool")"; done
mkdir -p "$WORK/logs" "$WORK/conf" "$WORK/state"
SAMPLES=$WORK/samples.tsv
CHANGES=$WORK/changes.ndjson
: >"$SAMPLES"
: >"$CHANGES"

wipe() {
  local victims=() each entry mount
  for each in "${TOOLS[@]}"; do
    # snapkeep's `<name>.latest` symlinks are removed, not handed to `btrfs subvolume delete`
    # (which follows one to a snapshot deleted first: "Could not statfs").
    for entry in "$SRC/snaps/$each"/* "$(tgt "$each")/main"/*; do
      if [[ -L $entry ]]; then rm -f -- "$entry"; elif [[ -e $entry ]]; then victims+=("$entry"); fi
    done
  done
  if ((${#victims[@]})); then btrfs subvolume delete -c "${victims[@]}" >/dev/null; fi
  for mount in "${MOUNTS[@]}"; do btrfs subvolume sync "$mount" >/dev/null; done
  RAW_PREV=''
}

# --- the raw pipe over ssh -----------------------------------------------------------------------
RAW_PREV=''
RAW_COUNT=0
raw_cycle() {
  RAW_COUNT=$((RAW_COUNT + 1))
  local name
  name=data.$(printf '%05d' "$RAW_COUNT")
  btrfs subvolume snapshot -r "$SRC/data" "$SRC/snaps/raw/$name" >/dev/null || return
  local send=(btrfs send -q)
  [[ -n $RAW_PREV ]] && send+=(-p "$SRC/snaps/raw/$RAW_PREV")
  "${send[@]}" "$SRC/snaps/raw/$name" |
    ssh "${SSH_OPTS[@]}" -c "$CIPHER" "$BENCH_USER@127.0.0.1" btrfs receive "$(tgt raw)/main" || return
  RAW_PREV=$name
}

# --- configurations ------------------------------------------------------------------------------
btrfs subvolume create "$SRC/data" >/dev/null
log "populating $SRC/data with ~$DATA_MB MiB"
node "$BENCH/lib/data.mjs" populate "$SRC/data" "$DATA_MB" >"$WORK/populate-data.json"
for tool in "${TOOLS[@]}"; do mkdir -p "$SRC/snaps/$tool" "$(tgt "$tool")/main"; done
for create in always onchange; do
  cat >"$WORK/conf/snapkeep-$create.yaml" <<EOF
# generated by bench/btrfs-ssh.sh: retention keeps everything (like btrbk's defaults)
state_dir: $WORK/state/snapkeep
defaults:
  timestamp_format: long
  snapshot_create: $create
  snapshot_retention: { preserve_min: all }
  target_retention: { preserve_min: all }
ssh:
  identity_file: $WORK/ssh/client_key
  known_hosts: $WORK/ssh/known_hosts
  cipher: $CIPHER
  sudo: false
targets:
  remote: { path: "ssh://$BENCH_USER@127.0.0.1:$PORT$(tgt snapkeep)/main" }
subvolumes:
  data:
    path: $SRC/data
    snapshot_dir: $SRC/snaps/snapkeep
    targets: [remote]
EOF
done
cat >"$WORK/conf/btrbk.conf" <<EOF
# generated by bench/btrfs-ssh.sh: btrbk defaults (retention keeps everything, explicit)
timestamp_format        long
snapshot_create         always
snapshot_preserve_min   all
target_preserve_min     all
lockfile                $WORK/state/btrbk.lock
ssh_identity            $WORK/ssh/client_key
ssh_user                $BENCH_USER
volume $SRC
  snapshot_dir snaps/btrbk
  subvolume data
    target ssh://127.0.0.1:$PORT$(tgt btrbk)/main
EOF
run_tool() { # TOOL
  case $1 in
    snapkeep) snapkeep run --json --config "$WORK/conf/snapkeep-always.yaml" ;;
    snapkeep-onchange) snapkeep run --json --config "$WORK/conf/snapkeep-onchange.yaml" ;;
    btrbk) PATH="$WORK/bin:$PATH" btrbk -c "$WORK/conf/btrbk.conf" run ;;
    raw) raw_cycle ;;
  esac
}
sync

if has_scenario full; then
  log "scenario full: $FULL_RUNS runs x ${TOOLS[*]}"
  for ((run = 1; run <= FULL_RUNS; run++)); do
    for tool in $(rotated "$run" "${TOOLS[@]}"); do
      wipe
      measure full "$tool" "$run" run_tool "$tool"
    done
  done
  if grep -q '^>>>' "$WORK"/logs/full.btrbk.*.log; then die "btrbk made an incremental transfer in the full scenario"; fi
  wipe
fi
if has_scenario incremental || has_scenario nochange; then
  log "initial full transfers (not measured)"
  for tool in "${TOOLS[@]}"; do run_tool "$tool" >"$WORK/logs/initial.$tool.log" 2>&1 || die "$tool initial run failed: $(tail "$WORK/logs/initial.$tool.log")"; done
fi
if has_scenario incremental; then
  log "scenario incremental: $RUNS runs, $CHANGE_PERCENT % changed before each"
  for ((run = 1; run <= RUNS; run++)); do
    change "$SRC/data" "$run"
    for tool in $(rotated "$run" "${TOOLS[@]}"); do measure incremental "$tool" "$run" run_tool "$tool"; done
  done
fi
if has_scenario nochange; then
  log "scenario nochange: $RUNS runs"
  for ((run = 1; run <= RUNS; run++)); do
    for tool in $(rotated "$run" "${TOOLS[@]}"); do measure nochange "$tool" "$run" run_tool "$tool"; done
  done
  run_tool snapkeep >"$WORK/logs/nochange.snapkeep.pre-onchange.log" 2>&1
  for ((run = 1; run <= RUNS; run++)); do measure nochange snapkeep-onchange "$run" run_tool snapkeep-onchange; done
fi

# --- report --------------------------------------------------------------------------------------
cat >"$WORK/rows.json" <<'EOF'
[
  { "id": "full", "label": "1 full over ssh", "sk": "snapkeep", "vs": "raw", "goal": 1.1 },
  { "id": "full", "label": "  (full vs btrbk)", "sk": "snapkeep", "vs": "btrbk" },
  { "id": "incremental", "label": "2 incremental 5% over ssh", "sk": "snapkeep", "vs": "btrbk", "goal": 0.4 },
  { "id": "nochange", "label": "3 no change (always)", "sk": "snapkeep", "vs": "btrbk", "goal": 0.3 },
  { "id": "nochange", "label": "  no change, sk onchange", "sk": "snapkeep-onchange", "vs": "btrbk" }
]
EOF
{
  echo "{"
  echo "  \"bench\": \"btrfs-ssh\","
  echo "  \"snapkeepVersion\": \"$SNAPKEEP_VERSION\","
  echo "  \"btrbkVersion\": \"$(btrbk --version | head -1 | sed 's/.*version //')\","
  echo "  \"sshVersion\": \"$(ssh -V 2>&1)\","
  echo "  \"cipher\": \"$CIPHER (snapkeep and raw; btrbk: ssh default)\","
  echo "  \"kernel\": \"$(uname -r)\", \"cpus\": $(nproc),"
  echo "  \"gitCommit\": \"$(git -C "$REPO" rev-parse HEAD 2>/dev/null || echo unknown)\","
  echo "  \"runs\": $RUNS, \"fullRuns\": $FULL_RUNS, \"dataMiB\": $DATA_MB, \"changePercent\": $CHANGE_PERCENT,"
  echo "  \"scenarios\": \"$SCENARIOS\""
  echo "}"
} >"$WORK/meta.json"
mkdir -p "$BENCH/results"
STAMP=ssh-$(date +%Y%m%dT%H%M%S)
mkdir -p "$BENCH/results/$STAMP"
cp -a "$WORK/logs" "$WORK/conf" "$WORK/changes.ndjson" "$BENCH/results/$STAMP/"
node "$BENCH/lib/report.mjs" "$WORK" "$BENCH/results/$STAMP.json"
echo "logs and configs: $BENCH/results/$STAMP/"
