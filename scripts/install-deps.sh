#!/usr/bin/env bash
# Installs what snapkeep needs on Debian/Ubuntu, only what is missing, then the npm packages and
# the build. Usage: scripts/install-deps.sh [--runtime | --test]   (default --runtime)
#   --runtime  btrfs-progs, restic, ssh client, mount tools: enough for `snapkeep quickstart`
#   --test     also what the test suite and benchmarks exercise for real: btrbk (the oracle),
#              faketime, openssh-server, sudo, rclone, pv, cron, hyperfine, systemd-analyze, and man-db,
#              bash-completion, zsh, fish (the man page and the shell completions are tested in them),
#              promtool and prometheus-node-exporter (the metrics and the shipped alert rules),
#              openssl (certificates for the STARTTLS tests), python3 (its email package reads the mails),
#              shellcheck, dash, curl and wget (the target-side watch script runs under dash, sends with either)
set -euo pipefail
mode="${1:---runtime}"
case "$mode" in --runtime|--test) ;; *) echo "usage: $0 [--runtime|--test]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (it installs Debian packages and snapkeep mounts loop devices)" >&2
  exit 2
fi

# command-name:package pairs; a package is installed only if its command is missing.
runtime=(btrfs:btrfs-progs mkfs.btrfs:btrfs-progs restic:restic ssh:openssh-client zstd:zstd losetup:mount truncate:coreutils setpriv:util-linux pg_dump:postgresql-client)
testing=(btrbk:btrbk systemd-analyze:systemd faketime:faketime sshd:openssh-server sudo:sudo rclone:rclone pv:pv cron:cron hyperfine:hyperfine man:man-db groff:groff-base zsh:zsh fish:fish promtool:prometheus prometheus-node-exporter:prometheus-node-exporter openssl:openssl python3:python3 shellcheck:shellcheck dash:dash curl:curl wget:wget)
wanted=("${runtime[@]}")
[ "$mode" = --test ] && wanted+=("${testing[@]}")

missing=()
for pair in "${wanted[@]}"; do
  command="${pair%%:*}" package="${pair##*:}"
  if ! command -v "$command" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$command" ]; then
    [[ " ${missing[*]-} " == *" $package "* ]] || missing+=("$package")
  fi
done
# The PostgreSQL server the tests start (its binaries are not on PATH: /usr/lib/postgresql/N/bin).
if [ "$mode" = --test ] && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  missing+=(postgresql)
fi
# bash-completion (no command of its own): the test loads snapkeep's completion through its loader.
if [ "$mode" = --test ] && [ ! -f /usr/share/bash-completion/bash_completion ]; then
  missing+=(bash-completion)
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# The tests also run against restic 0.18 (trixie's), kept in .cache/ so apt's sources stay as they are.
[ "$mode" = --test ] && scripts/fetch-restic.sh

# Node.js 20+ is required (Debian 12's own nodejs package is 18, too old).
if ! command -v node >/dev/null 2>&1; then
  echo "install-deps: Node.js 20 or newer is required and not installed" >&2
  exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  echo "install-deps: Node.js 20 or newer is required, found $(node --version)" >&2
  exit 1
fi

# btrfs needs its kernel module for loop-mounted images.
modprobe btrfs 2>/dev/null || true

# package.json pins rollup (vitest's bundler) through "overrides" to a release whose 26 platform
# packages all exist on the registry mirror this project is built from; with a newer rollup the
# mirror lacks some, npm leaves them out of package-lock.json, and `npm ci` then refuses the lock.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run --silent build
chmod +x dist/cli/main.cjs
