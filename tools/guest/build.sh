#!/usr/bin/env bash
# Builds tsvmm's default guest from Debian packages only:
#   a minimal Linux 6.1 kernel (linux-source-6.1 + tools/guest/kernel.config
#   + tools/guest/patches/*.patch) and a busybox-static initramfs whose /init is
#   tools/guest/init.
# Output: ${TSVMM_CACHE:-$HOME/.cache/tsvmm}/guest/{vmlinux,bzImage,initramfs.cpio.gz,
#   initramfs.cpio,guest.json}.  Reruns reuse the cache; the kernel tree stays
#   in the cache so a changed config or patch rebuilds incrementally.
# Usage: bash tools/guest/build.sh [--force]     (npm run guest)
# See tools/guest/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE_ROOT=${TSVMM_CACHE:-$HOME/.cache/tsvmm}
OUT=$CACHE_ROOT/guest
BUILD=$OUT/build
KSRC=$BUILD/linux
FORCE=${1:-}

# The guest's kernel command line (README.md, "Command line"). What kvm_pvm
# also needs (noxsave, clearcpuid=...) tsvmm adds itself there, from its
# nested-safe CPU template (src/kvm/cpu-template.ts).
CMDLINE="console=ttyS0 reboot=k panic=-1 mitigations=off rodata=off norandmaps"

T0=$(date +%s)
stage() { printf '[guest %4ss] %s\n' "$(( $(date +%s) - T0 ))" "$*" >&2; }
die() { printf 'guest build: error: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------- packages
# package -> a file that proves it is installed
declare -A NEED=(
  [linux-source-6.1]=/usr/src/linux-source-6.1.tar.xz
  [busybox-static]=/bin/busybox
  [build-essential]=/usr/share/build-essential/list
  [gcc]=/usr/bin/gcc
  [make]=/usr/bin/make
  [bc]=/usr/bin/bc
  [flex]=/usr/bin/flex
  [bison]=/usr/bin/bison
  [libelf-dev]=/usr/include/libelf.h
  [libssl-dev]=/usr/include/openssl/ssl.h
  [cpio]=/usr/bin/cpio
  [xz-utils]=/usr/bin/xz
  [gzip]=/bin/gzip
  [patch]=/usr/bin/patch
  [python3]=/usr/bin/python3
)
missing=()
for pkg in "${!NEED[@]}"; do [[ -e ${NEED[$pkg]} ]] || missing+=("$pkg"); done
# busybox-static and busybox both ship /bin/busybox; only the static one will do.
if [[ -e /bin/busybox ]] && ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed'; then
  missing+=(busybox-static)
fi
if ((${#missing[@]})); then
  stage "installing: ${missing[*]}"
  [[ $(id -u) == 0 ]] || die "missing packages: ${missing[*]} (run as root or: sudo apt-get install ${missing[*]})"
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
    apt-get update >&2 || true
    for pkg in "${missing[@]}"; do
      apt-get install -y --no-install-recommends "$pkg" >&2 ||
        die "cannot install Debian package '$pkg' (needed for ${NEED[$pkg]:-the guest build})"
    done
  fi
fi
file -L /bin/busybox 2>/dev/null | grep -q 'statically linked' || [[ ! -x /usr/bin/file ]] ||
  die "/bin/busybox is not statically linked: install the Debian package 'busybox-static'"

# ---------------------------------------------------------------- cache key
KVER=$(dpkg-query -W -f='${Version}' linux-source-6.1)
BBVER=$(dpkg-query -W -f='${Version}' busybox-static)
PATCHES=("$HERE"/patches/*.patch)
KEY=$( {
  echo "linux-source-6.1 $KVER busybox-static $BBVER cmdline $CMDLINE"
  cat "$HERE/build.sh" "$HERE/kernel.config" "$HERE/init" "$HERE/udhcpc.script" "$HERE/fstab" "$HERE/applets" "$HERE/blkbench.c" "${PATCHES[@]}"
} | sha256sum | cut -c1-16)

# One build at a time per cache (a second caller waits, then finds it up to date).
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9 || die "cannot lock $OUT/.lock"

if [[ $FORCE != --force && -f $OUT/.key && $(cat "$OUT/.key") == "$KEY" && -f $OUT/vmlinux &&
      -f $OUT/bzImage && -f $OUT/initramfs.cpio && -f $OUT/initramfs.cpio.gz && -f $OUT/guest.json ]]; then
  stage "up to date (key $KEY): $OUT/guest.json"
  exit 0
fi
mkdir -p "$BUILD"
stage "building guest (key $KEY) in $OUT"

# ---------------------------------------------------------------- kernel source
if [[ ! -f $KSRC/.tsvmm-source || $(cat "$KSRC/.tsvmm-source") != "$KVER" ]]; then
  stage "extracting linux-source-6.1 $KVER"
  rm -rf "$KSRC" "$BUILD/linux-source-6.1"
  tar -C "$BUILD" -xf /usr/src/linux-source-6.1.tar.xz
  mv "$BUILD/linux-source-6.1" "$KSRC"
  mkdir -p "$KSRC/.tsvmm-patches"
  echo "$KVER" > "$KSRC/.tsvmm-source"
fi

# Patches: the copies in .tsvmm-patches/ are what is applied now. If the set
# changed, unapply those (reverse order) and apply the new set; a tree that
# will not unapply cleanly is extracted again.
applied=$(cd "$KSRC/.tsvmm-patches" && { cat ./*.patch 2>/dev/null || true; } | sha256sum)
wanted=$(cat "${PATCHES[@]}" | sha256sum)
if [[ $applied != "$wanted" ]]; then
  mapfile -t old < <(ls -r "$KSRC/.tsvmm-patches"/*.patch 2>/dev/null || true)
  for p in "${old[@]}"; do
    stage "unapplying $(basename "$p")"
    if ! patch -d "$KSRC" -p1 -R -s --no-backup-if-mismatch < "$p" >&2; then
      stage "tree does not unapply cleanly: extracting again"
      rm -f "$KSRC/.tsvmm-source"; exec bash "$HERE/build.sh" "$@"
    fi
    rm -f "$p"
  done
  for p in "${PATCHES[@]}"; do
    stage "applying $(basename "$p")"
    patch -d "$KSRC" -p1 -s --no-backup-if-mismatch < "$p" >&2 || die "patch $(basename "$p") does not apply to linux-source-6.1 $KVER"
    cp "$p" "$KSRC/.tsvmm-patches/"
  done
fi

# ---------------------------------------------------------------- kernel config
stage "configuring: tinyconfig + tools/guest/kernel.config"
{
  make -C "$KSRC" tinyconfig &&
  (cd "$KSRC" && scripts/kconfig/merge_config.sh -m .config "$HERE/kernel.config") &&
  make -C "$KSRC" olddefconfig
} > "$BUILD/kernel-config.log" 2>&1 || { tail -20 "$BUILD/kernel-config.log" >&2; die "kernel configuration failed (see $BUILD/kernel-config.log)"; }
bad=0
while IFS= read -r line; do
  if [[ $line =~ ^(CONFIG_[A-Za-z0-9_]+)=(.*)$ ]]; then
    grep -qxF -- "$line" "$KSRC/.config" || { echo "  wanted $line, got: $(grep -E "^(# )?${BASH_REMATCH[1]}[= ]" "$KSRC/.config" || echo unset)" >&2; bad=1; }
  elif [[ $line =~ ^#\ (CONFIG_[A-Za-z0-9_]+)\ is\ not\ set$ ]]; then
    ! grep -q "^${BASH_REMATCH[1]}=" "$KSRC/.config" || { echo "  wanted $line, got: $(grep "^${BASH_REMATCH[1]}=" "$KSRC/.config")" >&2; bad=1; }
  fi
done < "$HERE/kernel.config"
((bad == 0)) || die "kernel.config: the options above did not survive olddefconfig (missing dependency?)"

# ---------------------------------------------------------------- kernel build
stage "building kernel: make -j$(nproc) vmlinux bzImage (log: $BUILD/kernel-build.log)"
set +e +o pipefail
make -C "$KSRC" -j"$(nproc)" vmlinux bzImage 2>&1 | tee "$BUILD/kernel-build.log" |
  grep --line-buffered -E '^\s+(CC|LD|AR|AS|OBJCOPY|GZIP|BUILD)\s' >&2
rc=${PIPESTATUS[0]}
set -e -o pipefail
[[ $rc == 0 ]] || { tail -30 "$BUILD/kernel-build.log" >&2; die "kernel build failed (see $BUILD/kernel-build.log)"; }
cp "$KSRC/vmlinux" "$OUT/vmlinux.tmp" && mv "$OUT/vmlinux.tmp" "$OUT/vmlinux"
cp "$KSRC/arch/x86/boot/bzImage" "$OUT/bzImage.tmp" && mv "$OUT/bzImage.tmp" "$OUT/bzImage"
cp "$KSRC/.config" "$OUT/kernel.config.full"

# ---------------------------------------------------------------- guest tools
# blkbench (disk benchmark, tools/bench): static, on the kernel tree's nolibc.
stage "building blkbench"
gcc -Os -static -nostdlib -fno-asynchronous-unwind-tables -fno-ident -Wall -Werror \
  -include "$KSRC/tools/include/nolibc/nolibc.h" -o "$BUILD/blkbench" "$HERE/blkbench.c" -lgcc ||
  die "building tools/guest/blkbench.c failed"

# ---------------------------------------------------------------- initramfs
stage "building initramfs: busybox-static $BBVER + tools/guest/init"
GEN=$BUILD/gen_init_cpio
[[ -x $GEN && $GEN -nt $KSRC/usr/gen_init_cpio.c ]] || gcc -O2 -o "$GEN" "$KSRC/usr/gen_init_cpio.c"
LIST=$BUILD/initramfs.list
{
  for d in /bin /sbin /usr /usr/bin /usr/sbin /dev /proc /sys /tmp /root /etc /mnt; do
    echo "dir $d 755 0 0"
  done
  echo "nod /dev/console 600 0 0 c 5 1"
  echo "nod /dev/null 666 0 0 c 1 3"
  echo "file /bin/busybox /bin/busybox 755 0 0"
  echo "file /init $HERE/init 755 0 0"
  echo "file /bin/blkbench $BUILD/blkbench 755 0 0"
  echo "file /etc/fstab $HERE/fstab 644 0 0"
  echo "file /etc/udhcpc.script $HERE/udhcpc.script 755 0 0"
  # Symlinks for the applets named in tools/guest/applets, in busybox's own
  # directory for each (bin/, sbin/, usr/bin/, usr/sbin/).
  wanted=$(sed 's/#.*//' "$HERE/applets" | tr -s ' \t' '\n' | sed '/^$/d')
  all=$(/bin/busybox --list-full | sort)
  while read -r path; do
    [[ $path != bin/busybox ]] && grep -qxF -- "${path##*/}" <<<"$wanted" &&
      echo "slink /$path /bin/busybox 777 0 0"
  done <<<"$all"
  names=$(sed 's|.*/||' <<<"$all")
  while read -r a; do
    grep -qxF -- "$a" <<<"$names" ||
      echo "guest build: warning: busybox has no applet '$a' (tools/guest/applets)" >&2
  done <<<"$wanted"
} > "$LIST"
"$GEN" -t 0 "$LIST" > "$OUT/initramfs.cpio.tmp"
mv "$OUT/initramfs.cpio.tmp" "$OUT/initramfs.cpio"
gzip -9 -n -c "$OUT/initramfs.cpio" > "$OUT/initramfs.cpio.gz.tmp"
mv "$OUT/initramfs.cpio.gz.tmp" "$OUT/initramfs.cpio.gz"

# ---------------------------------------------------------------- guest.json
python3 - "$OUT" "$CMDLINE" "$KEY" <<'PY'
import json, os, sys
out, cmdline, key = sys.argv[1:]
doc = {
    "vmlinux": os.path.join(out, "vmlinux"),
    "bzImage": os.path.join(out, "bzImage"),
    # Uncompressed: gunzip inside the guest costs ~70 s on the kvm_pvm host.
    "initrd": os.path.join(out, "initramfs.cpio"),
    "initrdGzip": os.path.join(out, "initramfs.cpio.gz"),
    "cmdline": cmdline,
    "key": key,
}
tmp = os.path.join(out, "guest.json.tmp")
with open(tmp, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
os.replace(tmp, os.path.join(out, "guest.json"))
PY
echo "$KEY" > "$OUT/.key"
stage "done: $OUT/guest.json ($(du -h "$OUT/vmlinux" | cut -f1) vmlinux, $(du -h "$OUT/initramfs.cpio.gz" | cut -f1) initramfs)"
