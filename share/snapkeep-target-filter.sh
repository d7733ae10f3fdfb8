#!/bin/sh
# snapkeep target filter: the forced command of snapkeep's key in authorized_keys on a backup
# target (or on a machine a backup server pulls from). It runs a request from the small fixed
# grammar below and nothing else. It never evaluates the request and never hands it to a shell:
# the request is split into words on single spaces (globbing off), every word is checked
# against the grammar, every path is resolved and must lie under a --root, and only then is the
# command run with those words as separate arguments.
#
#   command="/usr/local/bin/snapkeep-target-filter --root /mnt/backup",restrict ssh-ed25519 AAAA…
#
# Options:
#   --root DIR      a directory requests may touch (repeatable; at least one)
#   --no-delete     append-only target: refuse `btrfs subvolume delete`
#   --no-send       push-only target: refuse `btrfs send` (no restores from here)
#   --no-snapshot   refuse `btrfs subvolume snapshot` (needed only on pull-mode sources)
#   --no-sudo       run btrfs directly (when the key's user is root)
#   --log FILE      append one line per accepted or rejected request (default: syslog via
#                   logger, or stderr when logger is missing)
#
# Grammar (words separated by exactly one space; an optional leading `sudo -n` is accepted and
# ignored, the filter decides about sudo itself; PATH is absolute, made of A-Z a-z 0-9 . _ - + @
# : = / and lies under a root after resolving symlinks):
#   date -u +%s                                (the host's clock, for doctor's skew check)
#   cat /proc/self/mountinfo
#   readlink -e PATH
#   mkdir -p PATH
#   btrfs subvolume list -a -u -q -R -c -g PATH
#   btrfs subvolume list -r PATH
#   btrfs subvolume show PATH
#   btrfs subvolume snapshot -r PATH PATH
#   btrfs subvolume delete -c PATH [PATH …]
#   btrfs filesystem usage -b PATH
#   btrfs receive PATH
#   btrfs send -q [-p PATH] PATH
#   zstd -d -c | [sudo -n] btrfs receive PATH  (compressed push)
#   btrfs send -q [-p PATH] PATH | zstd -c     (compressed restore)
# `date -u +%s` is matched as one whole string before anything else (its % is outside the
# alphabet, so it gets no leading `sudo -n` and no other form of `date` is accepted); like
# `cat` and `readlink` it runs as the login user, never through sudo, whatever the --no-* options.
# A rejected request exits 126, says why on stderr, and runs nothing.
set -f
umask 077
LC_ALL=C
export LC_ALL
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

filter_version=2
roots=''
allow_delete=1
allow_send=1
allow_snapshot=1
use_sudo=1
log_file=''

die_usage() {
  echo "snapkeep-target-filter: $1" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case $1 in
    --root)
      [ $# -ge 2 ] || die_usage '--root needs a directory'
      case $2 in /*) ;; *) die_usage "--root must be absolute: $2" ;; esac
      resolved_root=$(cd -P -- "$2" 2>/dev/null && pwd -P) || die_usage "--root does not exist: $2"
      roots="$roots
$resolved_root"
      shift 2
      ;;
    --no-delete) allow_delete=0; shift ;;
    --no-send) allow_send=0; shift ;;
    --no-snapshot) allow_snapshot=0; shift ;;
    --no-sudo) use_sudo=0; shift ;;
    --log)
      [ $# -ge 2 ] || die_usage '--log needs a file'
      log_file=$2
      shift 2
      ;;
    --version) echo "snapkeep-target-filter $filter_version"; exit 0 ;;
    *) die_usage "unknown option: $1" ;;
  esac
done
[ -n "$roots" ] || die_usage 'at least one --root is required'

request=${SSH_ORIGINAL_COMMAND-}

log() {
  # The request is logged with anything outside printable ASCII shown as '?', so a hostile
  # request cannot forge log lines.
  shown=$(printf '%s' "$request" | tr -c ' -~' '?' | cut -c1-300)
  line="snapkeep-target-filter[$$] ${SSH_CLIENT%% *}: $1: $shown"
  if [ -n "$log_file" ]; then
    printf '%s %s\n' "$(date '+%Y-%m-%dT%H:%M:%S%z')" "$line" >>"$log_file" 2>/dev/null
  elif command -v logger >/dev/null 2>&1; then
    logger -p auth.info -t snapkeep-target-filter -- "$line" 2>/dev/null
  else
    printf '%s\n' "$line" >&2
  fi
}

reject() {
  log "REJECT ($1)"
  echo "snapkeep-target-filter: rejected: $1" >&2
  exit 126
}

# --- the request as a whole ------------------------------------------------------------------
[ -n "$request" ] || reject 'empty request (interactive logins are not allowed)'
# The host's clock (read-only, no paths, no sudo): compared as one fixed string, before the
# alphabet below, which has no %. Any other form of date falls through and is rejected.
if [ "$request" = 'date -u +%s' ]; then
  log ACCEPT
  exec date -u +%s
fi
[ ${#request} -le 4096 ] || reject 'request longer than 4096 characters'
case $request in
  *[!A-Za-z0-9._/:@+=,\ \|-]*) reject 'forbidden character (only A-Z a-z 0-9 . _ - + @ : = , / space and | are allowed)' ;;
esac
case $request in
  ' '* | *' ' | *'  '*) reject 'words must be separated by exactly one space' ;;
esac

# Split into words: IFS is one space and globbing is off, so no word is expanded or evaluated.
IFS=' '
# shellcheck disable=SC2086 # splitting is the point; set -f above disables globbing
set -- $request
unset IFS
[ $# -le 64 ] || reject 'too many words'
for word in "$@"; do
  [ ${#word} -le 1024 ] || reject 'a word longer than 1024 characters'
done
if [ "$1" = sudo ]; then
  [ "${2-}" = -n ] || reject 'only "sudo -n" may prefix a request'
  shift 2
fi

# --- paths -----------------------------------------------------------------------------------
# check_path PATH: absolute, no . or .. component, no leading -, and under a root once symlinks
# are resolved. A path that does not exist yet (mkdir -p) is resolved through its deepest
# existing ancestor. Sets $checked to the resolved path.
check_path() {
  p=$1
  case $p in
    /*) ;;
    *) reject "not an absolute path: $p" ;;
  esac
  case $p in
    */../* | */.. | */./* | */. | *//*) reject "path with . or .. or // components: $p" ;;
    -*) reject "path starting with -: $p" ;;
  esac
  [ "$p" = / ] && reject 'the root directory is not allowed'
  existing=$p
  rest=''
  while [ ! -e "$existing" ] && [ ! -L "$existing" ]; do
    rest="/${existing##*/}$rest"
    existing=${existing%/*}
    [ -n "$existing" ] || existing=/
  done
  if [ -L "$existing" ] && [ ! -e "$existing" ]; then reject "dangling symlink: $existing"; fi
  if [ -d "$existing" ]; then
    resolved=$(cd -P -- "$existing" 2>/dev/null && pwd -P) || reject "cannot resolve $existing"
  else
    parent=$(cd -P -- "${existing%/*}/" 2>/dev/null && pwd -P) || reject "cannot resolve $existing"
    resolved="${parent%/}/${existing##*/}"
    [ -L "$existing" ] && reject "symlink to a non-directory: $existing"
  fi
  checked="${resolved%/}$rest"
  [ -n "$checked" ] || checked=/
  under_root "$checked" || reject "path outside the allowed roots: $p"
}

# under_root PATH [exact]: PATH is a root or below one (with "exact": PATH is a root).
under_root() {
  found=1
  while IFS= read -r root; do
    [ -n "$root" ] || continue
    case $1 in
      "$root")
        found=0
        break
        ;;
      "$root"/*)
        if [ "${2-}" != exact ]; then
          found=0
          break
        fi
        ;;
    esac
  done <<ROOTS
$roots
ROOTS
  return $found
}

btrfs_cmd() {
  if [ "$use_sudo" = 1 ]; then sudo -n btrfs "$@"; else btrfs "$@"; fi
}
mkdir_cmd() {
  # 755, not the filter's 077: the filter resolves paths as the login user, who must be able to
  # traverse what it made through sudo (e.g. a pull-mode snapshot directory).
  umask 022
  if [ "$use_sudo" = 1 ]; then sudo -n mkdir -p -- "$1"; else mkdir -p -- "$1"; fi
}

accept() {
  log ACCEPT
}

# --- the grammar -----------------------------------------------------------------------------
words="$*"
case $words in
  'cat /proc/self/mountinfo')
    accept
    exec cat /proc/self/mountinfo
    ;;
esac

case $# in
  3)
    case "$1 $2" in
      'readlink -e')
        check_path "$3"
        accept
        [ -e "$checked" ] || exit 1
        printf '%s\n' "$checked"
        exit 0
        ;;
      'mkdir -p')
        check_path "$3"
        accept
        mkdir_cmd "$checked"
        exit
        ;;
      'btrfs receive')
        check_path "$3"
        accept
        btrfs_cmd receive "$checked"
        exit
        ;;
    esac
    ;;
esac

case $words in
  'btrfs subvolume list -a -u -q -R -c -g '*)
    [ $# -eq 10 ] || reject 'btrfs subvolume list takes one path'
    check_path "${10}"
    accept
    btrfs_cmd subvolume list -a -u -q -R -c -g "$checked"
    exit
    ;;
  'btrfs subvolume list -r '*)
    [ $# -eq 5 ] || reject 'btrfs subvolume list takes one path'
    check_path "$5"
    accept
    btrfs_cmd subvolume list -r "$checked"
    exit
    ;;
  'btrfs subvolume show '*)
    [ $# -eq 4 ] || reject 'btrfs subvolume show takes one path'
    check_path "$4"
    accept
    btrfs_cmd subvolume show "$checked"
    exit
    ;;
  'btrfs filesystem usage -b '*)
    [ $# -eq 5 ] || reject 'btrfs filesystem usage takes one path'
    check_path "$5"
    accept
    btrfs_cmd filesystem usage -b "$checked"
    exit
    ;;
  'btrfs subvolume snapshot -r '*)
    [ "$allow_snapshot" = 1 ] || reject 'snapshots are disabled on this host (--no-snapshot)'
    [ $# -eq 6 ] || reject 'btrfs subvolume snapshot -r takes a source and a destination'
    check_path "$5"
    source_path=$checked
    check_path "$6"
    accept
    btrfs_cmd subvolume snapshot -r "$source_path" "$checked"
    exit
    ;;
  'btrfs subvolume delete -c '*)
    [ "$allow_delete" = 1 ] || reject 'deleting is disabled on this target (--no-delete: append-only)'
    [ $# -ge 5 ] || reject 'btrfs subvolume delete needs a path'
    shift 4
    targets=''
    for p in "$@"; do
      check_path "$p"
      under_root "$checked" exact && reject "refusing to delete a root: $p"
      targets="$targets $checked"
    done
    accept
    IFS=' '
    # shellcheck disable=SC2086 # each checked path is one word: spaces are not allowed in paths
    btrfs_cmd subvolume delete -c $targets
    exit
    ;;
  'zstd -d -c | btrfs receive '* | 'zstd -d -c | sudo -n btrfs receive '*)
    # The sudo inside is what a host without this filter needs; here btrfs_cmd decides.
    [ "$5" = sudo ] && shift 2
    [ $# -eq 7 ] || reject 'btrfs receive takes one path'
    check_path "$7"
    accept
    zstd -d -c | btrfs_cmd receive "$checked"
    exit
    ;;
  'btrfs send -q '*)
    [ "$allow_send" = 1 ] || reject 'sending is disabled on this target (--no-send: push-only)'
    shift 3
    parent=''
    if [ "${1-}" = -p ]; then
      [ $# -ge 2 ] || reject 'btrfs send -p needs a parent'
      check_path "$2"
      parent=$checked
      shift 2
    fi
    compress=0
    case $# in
      1) ;;
      3) [ "$2 $3" = '| zstd' ] && reject 'use "| zstd -c"' ;;
      4) [ "$2 $3 $4" = '| zstd -c' ] || reject 'btrfs send takes one path'; compress=1 ;;
      *) reject 'btrfs send takes one path' ;;
    esac
    case $1 in -*) reject "unexpected option: $1" ;; esac
    check_path "$1"
    accept
    if [ -n "$parent" ]; then set -- -p "$parent" "$checked"; else set -- "$checked"; fi
    if [ "$compress" = 1 ]; then
      btrfs_cmd send -q "$@" | zstd -c
    else
      btrfs_cmd send -q "$@"
    fi
    exit
    ;;
esac

reject 'not a request snapkeep makes'
