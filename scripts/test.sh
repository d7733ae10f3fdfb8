#!/usr/bin/env bash
# README's second command (and CI's): install what is missing, build, lint, run every test.
# Integration tests use real btrfs, btrbk, sshd, restic, ...; a missing prerequisite fails them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
npm run --silent lint
npx vitest run "$@"
