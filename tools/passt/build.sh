#!/usr/bin/env bash
# Builds passt (user-mode networking for `tsvmm run --net user`) from the
# source Debian 13 ships, into ${TSVMM_CACHE:-$HOME/.cache/tsvmm}/passt/passt.
# Why not Debian 12's package: its passt (0.0~git20230309) dies with SIGSEGV
# on the first connection to a forwarded port (hostfwd), found by
# test/integration/net-user.kvm.test.ts; Debian 13's binary needs glibc 2.38.
# The source comes from Debian's archive, checked against the hash below.
# Usage: bash tools/passt/build.sh [--force]      (npm run passt; README.md)
set -euo pipefail

VERSION=0.0~git20250503.587980c
TARBALL=passt_${VERSION}.orig.tar.xz
SHA256=69d5eb843f7d648c2cc60bfbca6ea7b5014c6b6f07cdee362c2a8cf490515a49
URL=http://deb.debian.org/debian/pool/main/p/passt/$TARBALL
OUT=${TSVMM_CACHE:-$HOME/.cache/tsvmm}/passt
FORCE=${1:-}

T0=$(date +%s)
stage() { printf '[passt %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
die() { printf 'passt build: error: %s\n' "$*" >&2; exit 1; }

if [[ $FORCE != --force && -x $OUT/passt && $(cat "$OUT/.version" 2>/dev/null) == "$VERSION" ]]; then
  stage "up to date: $OUT/passt ($VERSION)"
  exit 0
fi
for tool in gcc make curl xz; do
  command -v "$tool" >/dev/null || die "$tool is needed (Debian packages: gcc make curl xz-utils)"
done
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9
BUILD=$(mktemp -d "$OUT/build.XXXXXX")
trap 'rm -rf "$BUILD"' EXIT
stage "fetching $URL"
curl -fsS --retry 3 -o "$BUILD/$TARBALL" "$URL" || die "cannot download $URL"
echo "$SHA256  $BUILD/$TARBALL" | sha256sum -c --quiet - || die "$TARBALL does not have the expected SHA-256"
tar -C "$BUILD" -xf "$BUILD/$TARBALL"
SRC=$(find "$BUILD" -mindepth 1 -maxdepth 1 -type d -name 'passt-*' | head -1)
[[ -n $SRC ]] || die "no source folder in $TARBALL"
stage "building passt $VERSION"
make -C "$SRC" -j"$(nproc)" passt VERSION="$VERSION" > "$BUILD/make.log" 2>&1 || { tail -20 "$BUILD/make.log" >&2; die "make failed"; }
install -m 755 "$SRC/passt" "$OUT/passt.tmp"
mv "$OUT/passt.tmp" "$OUT/passt"
echo "$VERSION" > "$OUT/.version"
stage "done: $OUT/passt"
