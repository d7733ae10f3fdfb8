#!/usr/bin/env bash
# README's first command: install what is missing, build, install `snapkeep` (on PATH, with its
# man page and shell completion: scripts/install.sh) and run snapkeep's main job on the embedded
# default (a sandbox of loop-mounted btrfs images; no cloud, no existing btrfs needed).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --runtime
scripts/install.sh
exec /usr/local/bin/snapkeep quickstart "$@"
