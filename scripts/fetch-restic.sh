#!/usr/bin/env bash
# Puts restic 0.18 (Debian 13 "trixie"'s package) at .cache/restic-0.18/restic, next to Debian 12's
# 0.14 in /usr/bin, so the tests run against both. Usage: scripts/fetch-restic.sh (root or not)
# The system's apt sources are left alone: apt reads a one-line sources file and keeps its lists,
# caches and the .deb in a temporary directory; dpkg only unpacks the .deb, nothing is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

target=.cache/restic-0.18/restic
if [ -x "$target" ] && "$target" version 2>/dev/null | grep -q '^restic 0\.18\.'; then
  echo "fetch-restic: $target is already restic 0.18, nothing to do"
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# apt drops to the _apt user to download (when run as root): it must reach the lists and the
# download directory, else it warns and downloads unsandboxed.
chmod 755 "$tmp"
mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/deb"
if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$tmp/deb"; fi
echo 'deb http://deb.debian.org/debian trixie main' >"$tmp/sources.list"
# Dir::Cache too, not only the archives: apt would otherwise rewrite /var/cache/apt/pkgcache.bin
# from the trixie lists. The InRelease signature is still checked against the system keyring.
apt_options=(
  -o "Dir::Etc::sourcelist=$tmp/sources.list" -o Dir::Etc::sourceparts=-
  -o "Dir::State::lists=$tmp/lists" -o "Dir::Cache=$tmp/cache"
  -o "Dir::Cache::archives=$tmp/cache/archives" -o Debug::NoLocking=1
)
apt-get -qq "${apt_options[@]}" update

# The exact 0.18.x trixie offers now (a pinned revision like 0.18.0-1+b4 vanishes on a rebuild);
# madison lists only the archive's versions, never the installed 0.14.
version="$(apt-cache "${apt_options[@]}" madison restic | awk '$3 ~ /^0\.18\./ { print $3; exit }')"
if [ -z "$version" ]; then
  echo "fetch-restic: trixie offers no restic 0.18.x (apt-cache madison restic)" >&2
  exit 1
fi
(cd "$tmp/deb" && apt-get -qq "${apt_options[@]}" download "restic=$version")
dpkg-deb -x "$tmp"/deb/restic_*.deb "$tmp/x"

# Copy then rename, so an interrupted run never leaves a truncated binary that looks present.
mkdir -p "$(dirname "$target")"
cp "$tmp/x/usr/bin/restic" "$target.partial"
mv -f "$target.partial" "$target"
echo "fetch-restic: installed restic $version from Debian trixie at $target ($("$target" version))"
