# shellcheck shell=bash
# Shared by the builders of Linux boots made only of Debian packages: a
# distribution kernel (linux-image-<flavour>) plus a busybox-static initramfs
# holding that kernel's own modules and an /init of the caller's. Sourced by
# tools/nested/build-l1.sh (the nested-KVM L1) and tools/distro-guest/build.sh
# (a stock Debian cloud kernel as a tsvmm guest).
#
# The caller sets STAGE_TAG (progress prefix) and OUT (its cache folder), then
# either calls debian_boot_build (the whole cached build, below) or the steps:
#   debian_boot_tools                         installs kmod, cpio, xz if missing
#   KPKG=$(debian_kernel_package FLAVOUR)     e.g. amd64, cloud-amd64
#   KVER=$(debian_version PKG)
#   debian_fetch PKG VERSION                  into $OUT/deb, cached
#   debian_build_initramfs KPKG KVER BBVER INIT OUTFILE MODULE...
#       unpacks both packages, copies busybox, INIT as /init, and each module
#       with what it depends on (builtins skipped) into /modules, their load
#       order in /modules/order; writes a gzip newc cpio to OUTFILE and the
#       kernel image to $OUT/vmlinuz; sets KREL and MODULE_COUNT.

T0=${T0:-$(date +%s)}
stage() { printf '[%s %4ss] %s\n' "$STAGE_TAG" "$(( $(date +%s) - T0 ))" "$*" >&2; }
die() { printf '%s build: error: %s\n' "$STAGE_TAG" "$*" >&2; exit 1; }

debian_boot_tools() {
  local missing=() tool
  for tool in depmod:kmod modprobe:kmod cpio:cpio gzip:gzip xz:xz-utils; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
  done
  ((${#missing[@]})) || return 0
  stage "installing: ${missing[*]}"
  [[ $(id -u) == 0 ]] || die "missing packages: ${missing[*]} (run as root or: sudo apt-get install ${missing[*]})"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2 ||
    die "cannot install ${missing[*]}"
}

# The versioned kernel package that linux-image-FLAVOUR points at today.
debian_kernel_package() {
  local flavour=$1 pkg
  find_pkg() { apt-cache depends "linux-image-$flavour" 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
  pkg=$(find_pkg)
  if [[ -z $pkg ]]; then
    stage "apt-get update (no package lists yet)"
    apt-get update >&2 || die "apt-get update failed"
    pkg=$(find_pkg)
  fi
  [[ -n $pkg ]] || die "apt-cache knows no linux-image-$flavour (is this Debian with its main archive?)"
  echo "$pkg"
}

debian_version() { apt-cache policy "$1" | awk '/Candidate:/{print $2; exit}'; }

debian_deb() { echo "$OUT/deb/${1}_${2//:/%3a}_amd64.deb"; }

debian_fetch() {
  local file
  file=$(debian_deb "$1" "$2")
  [[ -f $file ]] && return 0
  mkdir -p "$OUT/deb"
  stage "downloading $1 $2"
  (cd "$OUT/deb" && apt-get download "$1=$2" >&2) || { apt-get update >&2 && (cd "$OUT/deb" && apt-get download "$1=$2" >&2); } ||
    die "cannot download Debian package $1 $2"
}

debian_build_initramfs() {
  local kpkg=$1 kver=$2 bbver=$3 init=$4 outfile=$5
  shift 5
  local x=$OUT/x i=$OUT/initrd m ko name
  rm -rf "$x" "$i"
  mkdir -p "$x"
  dpkg-deb -x "$(debian_deb "$kpkg" "$kver")" "$x"
  dpkg-deb -x "$(debian_deb busybox-static "$bbver")" "$x"
  KREL=$(ls "$x/lib/modules")
  depmod -b "$x" "$KREL"
  mkdir -p "$i"/{bin,dev,proc,sys,mnt,modules}
  cp "$x/bin/busybox" "$i/bin/busybox"
  cp "$init" "$i/init"
  chmod 755 "$i/init"
  : > "$i/modules/order"
  for m in "$@"; do
    modprobe -d "$x" -S "$KREL" --show-depends "$m" | awk '$1 == "insmod" { print $2 }' | while read -r ko; do
      name=$(basename "${ko%.xz}")
      grep -qxF "$name" "$i/modules/order" && continue
      case $ko in
        *.xz) xz -dc "$ko" > "$i/modules/$name" ;;
        *) cp "$ko" "$i/modules/$name" ;;
      esac
      echo "$name" >> "$i/modules/order"
    done || die "modprobe cannot resolve module $m in $kpkg"
  done
  MODULE_COUNT=$(wc -l < "$i/modules/order")
  # The caller's /init may want more folders; it creates them itself.
  (cd "$i" && find . | cpio -o -H newc --quiet | gzip -1) > "$outfile.tmp"
  mv "$outfile.tmp" "$outfile"
  cp "$x/boot/vmlinuz-$KREL" "$OUT/vmlinuz"
  rm -rf "$x" "$i"
}

# The whole build, cached: FLAVOUR (linux-image-FLAVOUR), INIT (the /init),
# MANIFEST (its file name in $OUT), MODULES (array), KEY_FILES (array: the
# caller's own files, part of the cache key with this one) and FORCE
# (--force rebuilds) are set by the caller. Output: $OUT/{vmlinuz,initrd.gz,$MANIFEST}.
debian_boot_build() {
  debian_boot_tools
  local kpkg kver bbver key
  kpkg=$(debian_kernel_package "$FLAVOUR")
  kver=$(debian_version "$kpkg"); bbver=$(debian_version busybox-static)
  key=$( { echo "$kpkg $kver busybox-static $bbver ${MODULES[*]}"; cat "${KEY_FILES[@]}" "${BASH_SOURCE[0]}"; } | sha256sum | cut -c1-16)
  mkdir -p "$OUT"
  exec 9>"$OUT/.lock"
  flock 9 || die "cannot lock $OUT/.lock"
  if [[ $FORCE != --force && -f $OUT/.key && $(cat "$OUT/.key") == "$key" && -f $OUT/vmlinuz && -f $OUT/initrd.gz && -f $OUT/$MANIFEST ]]; then
    stage "up to date (key $key): $OUT"
    return 0
  fi
  stage "building (key $key): $kpkg $kver, busybox-static $bbver"
  debian_fetch "$kpkg" "$kver"
  debian_fetch busybox-static "$bbver"
  debian_build_initramfs "$kpkg" "$kver" "$bbver" "$INIT" "$OUT/initrd.gz" "${MODULES[@]}"
  printf '{"kernelPackage":"%s","kernelVersion":"%s","kernelRelease":"%s","busybox":"%s","key":"%s"}\n' \
    "$kpkg" "$kver" "$KREL" "$bbver" "$key" > "$OUT/$MANIFEST"
  echo "$key" > "$OUT/.key"
  stage "done: $OUT (kernel $KREL, $MODULE_COUNT modules)"
}
