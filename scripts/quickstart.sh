#!/usr/bin/env bash
# README's first command: install what is missing, build, and run snapkeep's main job on the
# embedded default (a sandbox of loop-mounted btrfs images; no cloud, no existing btrfs needed).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --runtime
exec node dist/cli/main.cjs quickstart "$@"
