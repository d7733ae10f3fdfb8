# Shared by the bench scripts (sourced, not run): messages, the Node start-up note, the frozen
# snapkeep build, loop-mounted btrfs images and their teardown, measuring one command, rotating
# the order of tools, changing data. Callers set WORK (their mktemp -d), REPO and BENCH first;
# make_fs appends to MOUNTS, measure appends to SAMPLES, change to CHANGES.

die() {
  echo "bench: $*" >&2
  exit 1
}
log() { printf '[%(%H:%M:%S)T] %s\n' -1 "$*" >&2; }
has_scenario() { [[ ",$SCENARIOS," == *",$1,"* ]]; }

# NODE_EXTRA_CA_CERTS makes Node parse a CA bundle at every start (~30 ms here). Some build
# sandboxes set it for their npm proxy; a Debian machine running snapkeep from cron does not, and
# snapkeep makes no TLS connection from Node in these scenarios. Unset, and said in the report.
unset_node_ca_certs() {
  if [[ -n ${NODE_EXTRA_CA_CERTS:-} ]]; then
    echo "bench: note: NODE_EXTRA_CA_CERTS was set; unset for the measurements (it costs every Node start ~30 ms)" >&2
    unset NODE_EXTRA_CA_CERTS
  fi
}

# Freeze the build so that a concurrent `npm run build` cannot change it mid-run (SNAPKEEP_CLI
# overrides); snapkeep's config cache lives with the run (the first run of each config fills it,
# as the first run after any config change does for a user).
freeze_snapkeep() {
  if [[ -n ${SNAPKEEP_CLI:-} ]]; then
    CLI=$SNAPKEEP_CLI
  else
    [[ -f $REPO/dist/cli/main.cjs ]] || die "no build: run npm run build (or BENCH_BUILD=1)"
    mkdir -p "$WORK/cli"
    cp -a "$REPO/dist" "$REPO/package.json" "$WORK/cli/"
    ln -s "$REPO/node_modules" "$WORK/cli/node_modules"
    CLI=$WORK/cli/dist/cli/main.cjs
  fi
  export SNAPKEEP_CACHE_DIR=$WORK/cache
}
snapkeep() { node "$CLI" "$@"; }

make_fs() { # image size mountpoint
  truncate -s "$2" "$WORK/$1.img"
  mkfs.btrfs -q "$WORK/$1.img" >/dev/null 2>&1 || die "mkfs.btrfs $1 failed"
  mkdir -p "$3"
  mount -o loop "$WORK/$1.img" "$3"
  MOUNTS+=("$3")
}

# Stop our children (a run interrupted mid-send), unmount MOUNTS newest first, remove WORK
# (kept, with a warning, if something would not unmount). For the callers' EXIT trap.
teardown_work() {
  local children
  children=$(jobs -p)
  [[ -n $children ]] && kill $children 2>/dev/null && wait 2>/dev/null
  local still=0
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    local m=${MOUNTS[i]}
    if mountpoint -q "$m"; then
      umount "$m" 2>/dev/null || { sleep 1; umount "$m"; } || umount -l "$m"
    fi
    mountpoint -q "$m" && still=1
  done
  # A mount -o loop device is released at umount (autoclear), but not after a lazy unmount that
  # is still busy, nor one whose mount failed after losetup: detach whatever still backs an image.
  local image device
  for image in "$WORK"/*.img; do
    [[ -e $image ]] || continue
    for device in $(losetup -j "$image" | cut -d: -f1); do losetup -d "$device" 2>/dev/null || still=1; done
  done
  if ((still)); then
    echo "bench: WARNING: could not unmount everything under $WORK; not deleting it" >&2
  else
    rm -rf "$WORK"
  fi
}

# measure SCENARIO TOOL RUN command...: sync, then time exactly one command; a failure aborts.
measure() {
  local scenario=$1 tool=$2 run=$3
  shift 3
  local logfile="$WORK/logs/$scenario.$tool.$run.log"
  sync
  local t0 t1 rc=0
  t0=$(date +%s%N)
  "$@" >"$logfile" 2>&1 || rc=$?
  t1=$(date +%s%N)
  if ((rc != 0)); then
    tail -n 30 "$logfile" >&2
    die "$tool failed in $scenario run $run (exit $rc); log above"
  fi
  local us=$(((t1 - t0) / 1000))
  printf '%s\t%s\t%s\t%s\n' "$scenario" "$tool" "$run" "$us" >>"$SAMPLES"
  log "  $scenario run $run: $(printf '%-12s' "$tool") $(awk -v us="$us" 'BEGIN { printf "%8.3f", us / 1e6 }') s"
}

# rotated RUN tools...: the tools in the order for this run (rotated by the run number).
rotated() {
  local run=$1
  shift
  local tools=("$@") n=$#
  for ((i = 0; i < n; i++)); do echo "${tools[(i + run) % n]}"; done
}

# change DIR SEED: change CHANGE_PERCENT of the data under DIR (rewrite some files, add some).
change() {
  node "$BENCH/lib/data.mjs" change "$1" "$CHANGE_PERCENT" "$2" >>"$CHANGES"
}

# start_bench_sshd: an sshd of this run on 127.0.0.1 (own config, own host key, key-only login)
# for the ssh benchmarks. Sets BENCH_USER, PORT, SSHD_PID, SSH_OPTS (the client options of the
# raw pipe) and puts an `ssh` wrapper in $WORK/bin that adds only this run's known_hosts (btrbk
# has no setting for it; root's own known_hosts is not touched; one `sh` exec per call, ~1 ms).
# The caller's EXIT trap calls stop_bench_sshd.
#
# The login is a uid-0 user with /bin/sh and an empty home made for this run, not root itself:
# sshd runs every remote command through the user's shell, and root's bash on this machine sources
# a .bashrc that runs `pyenv init` (~70 ms per command, for btrbk as for snapkeep). A clean backup
# server has no such thing; the bench should not measure this machine's dotfiles.
start_bench_sshd() {
  BENCH_USER=skbench$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
  mkdir -p "$WORK/home"
  useradd -o -u 0 -g 0 -M -p '*' -d "$WORK/home" -s /bin/sh "$BENCH_USER" 2>/dev/null || {
    BENCH_USER=''
    die "useradd failed"
  }
  PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  mkdir -p "$WORK/ssh" "$WORK/bin" /run/sshd
  ssh-keygen -q -t ed25519 -N '' -f "$WORK/ssh/host_key"
  ssh-keygen -q -t ed25519 -N '' -f "$WORK/ssh/client_key"
  cp "$WORK/ssh/client_key.pub" "$WORK/ssh/authorized_keys"
  echo "[127.0.0.1]:$PORT $(cut -d' ' -f1-2 "$WORK/ssh/host_key.pub")" >"$WORK/ssh/known_hosts"
  cat >"$WORK/ssh/sshd_config" <<SSHD
Port $PORT
ListenAddress 127.0.0.1
HostKey $WORK/ssh/host_key
AuthorizedKeysFile $WORK/ssh/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile $WORK/ssh/sshd.pid
LogLevel ERROR
MaxStartups 100
MaxSessions 100
SSHD
  /usr/sbin/sshd -D -e -f "$WORK/ssh/sshd_config" 2>"$WORK/ssh/sshd.log" &
  SSHD_PID=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.05
  done
  SSH_OPTS=(-i "$WORK/ssh/client_key" -o IdentitiesOnly=yes -o UserKnownHostsFile="$WORK/ssh/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes -p "$PORT")
  ssh "${SSH_OPTS[@]}" "$BENCH_USER@127.0.0.1" true || die "cannot log in to the bench sshd: $(cat "$WORK/ssh/sshd.log")"
  # shellcheck disable=SC2016 # "$@" is for the wrapper, not for this shell
  printf '#!/bin/sh\nexec /usr/bin/ssh -o UserKnownHostsFile=%s "$@"\n' "$WORK/ssh/known_hosts" >"$WORK/bin/ssh"
  chmod +x "$WORK/bin/ssh"
}

# Stop the sshd by its PID and remove the login user (-f: it shares uid 0 with running processes,
# which plain userdel refuses). Safe to call when start_bench_sshd never ran.
stop_bench_sshd() {
  [[ -n ${SSHD_PID:-} ]] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null
  [[ -n ${BENCH_USER:-} ]] && userdel -f "$BENCH_USER" 2>/dev/null
  SSHD_PID=''
  BENCH_USER=''
}

# The scripts' exit: stop the loopback sshd if one was started, tear down WORK, keep the exit
# status; INT and TERM leave through it with 130 and 143. Call once WORK and MOUNTS exist.
bench_cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  stop_bench_sshd
  teardown_work
  exit "$rc"
}
trap_bench_cleanup() {
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
