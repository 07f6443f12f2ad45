#!/usr/bin/env bash
# Builds the Debian package from debian/ (dpkg-buildpackage -us -uc -b) into OUT_DIR
# (default $BUILD_DIR/deb, i.e. build/deb): pathsteer_<version>_<arch>.deb, its .buildinfo
# and .changes, and lintian.txt (lintian's report; an error fails this script).
#
# dpkg-buildpackage writes next to the source tree, so it runs on a copy of the checkout's
# files (tracked and untracked, as git sees them, plus ui/node_modules for the dashboard)
# in OUT_DIR/src/pathsteer: the checkout stays as it was. The copy's path is the same on
# every run, so the compiles hit ccache (CCACHE_DIR, default /var/cache/pathsteer/ccache)
# from the last run. When the copied files are identical to the last successful run's, the
# package is not rebuilt.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-${BUILD_DIR:-$top/build}/deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$out/src/pathsteer

if [ -z "${CCACHE_DIR:-}" ] && mkdir -p /var/cache/pathsteer/ccache 2>/dev/null; then
  export CCACHE_DIR=/var/cache/pathsteer/ccache
fi
export CCACHE_BASEDIR=$src CCACHE_NOHASHDIR=1

cd "$top"
files=$(mktemp)
trap 'rm -f "$files"' EXIT
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done >"$files"
stamp=$( (xargs -0 sha1sum <"$files"; sha1sum ui/package-lock.json) | sha1sum | cut -d' ' -f1)
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ] && ls "$out"/pathsteer_*.deb >/dev/null 2>&1; then
  echo "build-deb: $(ls "$out"/pathsteer_*.deb) is up to date"
  exit 0
fi
rm -f "$out/.stamp" "$out"/pathsteer_* "$out"/pathsteer-dbgsym_* "$out/lintian.txt"
# The copy keeps dh's build directory (obj-*) between runs; only the sources are replaced.
mkdir -p "$src"
find "$src" -mindepth 1 -maxdepth 1 ! -name 'obj-*' -exec rm -rf {} +
tar -cf - --null -T "$files" | tar -C "$src" -xf -
if [ -d ui/node_modules ]; then
  cp -a ui/node_modules "$src/ui/"
fi
(cd "$src" && dpkg-buildpackage -us -uc -b) >"$out/build.log" 2>&1 || {
  tail -40 "$out/build.log" >&2
  echo "build-deb: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
  exit 1
}
mv "$out"/src/pathsteer_* "$out"/src/pathsteer-dbgsym_* "$out/"
deb=$(ls "$out"/pathsteer_*.deb)
# lintian over the .changes (both packages): errors fail the build; warnings and info are
# kept in lintian.txt. (It warns that it runs as root; the report is the same.)
if ! lintian --fail-on error --info --display-info "$out"/pathsteer_*.changes \
  >"$out/lintian.txt" 2>&1 || grep -q '^Skipping\|No packages selected' "$out/lintian.txt"; then
  cat "$out/lintian.txt" >&2
  echo "build-deb: lintian reports errors (or checked nothing)" >&2
  exit 1
fi
echo "$stamp" >"$out/.stamp"
echo "build-deb: $deb (lintian: $(grep -c '^W: ' "$out/lintian.txt" || true) warnings, see $out/lintian.txt)"
