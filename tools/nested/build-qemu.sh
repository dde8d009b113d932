#!/usr/bin/env bash
# The L1's emulator: QEMU 10 from Debian's bookworm-backports, unpacked into
# ${TSVMM_CACHE:-$HOME/.cache/tsvmm}/l1-qemu beside the host's own QEMU (which
# stays Debian 12's 7.2, the benchmarks' reference VMM). QEMU 7.2's TCG
# loses the wake-up of a halted L1 CPU now and then, and a 2-vCPU L1 froze
# under it in several ways (docs/host-kvm.md "The L1 itself can freeze").
# apt itself fetches and checks the packages (the archive's signature, each
# file's hash), with a source list and state of this script's own: the
# host's apt configuration is not touched.
# Output: $OUT/root (the packages unpacked) and $OUT/qemu.json.
# Usage: bash tools/nested/build-qemu.sh [--force]      (see tools/nested/README.md)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${TSVMM_CACHE:-$HOME/.cache/tsvmm}/l1-qemu
FORCE=${1:-}
SUITE=bookworm-backports
# The emulator, its shared parts, its firmware data, and the BIOS it asks for.
PACKAGES=(qemu-system-x86 qemu-system-common qemu-system-data seabios)
MANIFEST=$OUT/qemu.json

T0=$(date +%s)
stage() { printf '[l1-qemu %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
die() { printf 'l1-qemu build: error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9 || die "cannot lock $OUT/.lock"

APT=$OUT/apt
mkdir -p "$APT/lists/partial" "$APT/cache/archives/partial" "$APT/etc/preferences.d" "$APT/etc/apt.conf.d"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $SUITE main" > "$APT/sources.list"
: > "$APT/status"
apt_opts=(
  -o "Dir::Etc::SourceList=$APT/sources.list" -o "Dir::Etc::SourceParts=$APT/etc/apt.conf.d"
  -o "Dir::Etc::Preferences=$APT/etc/preferences" -o "Dir::Etc::PreferencesParts=$APT/etc/preferences.d"
  -o "Dir::State::Lists=$APT/lists" -o "Dir::State::status=$APT/status" -o "Dir::Cache=$APT/cache"
  -o "APT::Sandbox::User=$(id -un)" -o "Debug::NoLocking=1"
)

# Today's versions (the lists are refreshed once a day).
if [[ $FORCE == --force || -z $(find "$APT/lists" -maxdepth 1 -name '*Packages*' -mtime -1 2>/dev/null) ]]; then
  stage "apt-get update ($SUITE)"
  apt-get "${apt_opts[@]}" update >&2 || die "apt-get update of $SUITE failed"
fi
versions=()
for p in "${PACKAGES[@]}"; do
  v=$(apt-cache "${apt_opts[@]}" policy "$p" | awk '/Candidate:/{print $2; exit}')
  [[ -n $v && $v != "(none)" ]] || die "$SUITE has no $p"
  versions+=("$p=$v")
done
key=$( { echo "${versions[*]}"; cat "$HERE/build-qemu.sh"; } | sha256sum | cut -c1-16)
if [[ $FORCE != --force && -f $OUT/.key && $(cat "$OUT/.key") == "$key" && -x $OUT/root/usr/bin/qemu-system-x86_64 && -f $MANIFEST ]]; then
  stage "up to date (key $key): $OUT"
  exit 0
fi

stage "downloading ${versions[*]}"
debs=$OUT/debs
rm -rf "$debs" "$OUT/root"
mkdir -p "$debs"
(cd "$debs" && apt-get "${apt_opts[@]}" download "${versions[@]}" >&2) || die "cannot download ${versions[*]} from $SUITE"
for deb in "$debs"/*.deb; do dpkg-deb -x "$deb" "$OUT/root"; done
rm -rf "$debs"
# Every library it needs must be the host's own (the backport is built against bookworm's).
missing=$(ldd "$OUT/root/usr/bin/qemu-system-x86_64" | awk '/not found/{print $1}' | tr '\n' ' ')
[[ -z $missing ]] || die "QEMU from $SUITE needs libraries this host lacks: $missing"
version=$("$OUT/root/usr/bin/qemu-system-x86_64" --version | head -1)
# Its firmware: the BIOS in seabios's folder, the rest in QEMU's (their links point into /usr/share, not into $OUT/root).
printf '{"qemu":"%s","firmware":["%s","%s"],"version":"%s","key":"%s"}\n' \
  "$OUT/root/usr/bin/qemu-system-x86_64" "$OUT/root/usr/share/seabios" "$OUT/root/usr/share/qemu" "$version" "$key" > "$MANIFEST.tmp"
mv "$MANIFEST.tmp" "$MANIFEST"
echo "$key" > "$OUT/.key"
stage "built: $version in $OUT"
