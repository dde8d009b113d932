#!/usr/bin/env bash
# Where a running guest's kernel spends its time, on a kvm_pvm host: every
# guest-kernel instruction there goes through KVM's instruction emulator, and
# the kvm:kvm_emulate_insn tracepoint names each one's RIP. This records the
# tracepoint system-wide for SECONDS and counts RIPs by vmlinux symbol.
# Usage (as root, while a guest runs):
#   bash tools/guest/profile.sh [SECONDS=3] [VMLINUX=<default guest's>] [TOP=30]
# Works with any VMM (tsvmm or QEMU). On hardware KVM the tracepoint only
# fires for the rare emulated instruction, so the profile is not the guest's.
set -euo pipefail
SECONDS_TO_RECORD=${1:-3}
VMLINUX=${2:-${TSVMM_CACHE:-$HOME/.cache/tsvmm}/guest/vmlinux}
TOP=${3:-30}
command -v perf >/dev/null || { echo "profile.sh: needs perf (apt-get install linux-perf)" >&2; exit 1; }
[[ -f $VMLINUX ]] || { echo "profile.sh: no vmlinux at $VMLINUX" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "profile.sh: recording kvm:kvm_emulate_insn for ${SECONDS_TO_RECORD} s" >&2
perf record -q -o "$WORK/perf.data" -a -e kvm:kvm_emulate_insn -- sleep "$SECONDS_TO_RECORD" >/dev/null 2>&1
perf script -i "$WORK/perf.data" 2>/dev/null | grep -o 'kvm_emulate_insn: [0-9a-f]*:[0-9a-f]*' | cut -d: -f3 > "$WORK/rips"
nm -n "$VMLINUX" | grep -i ' [tw] ' > "$WORK/symbols"
python3 - "$WORK/rips" "$WORK/symbols" "$SECONDS_TO_RECORD" "$TOP" <<'PY'
import bisect, collections, sys
rips_file, symbols_file, seconds, top = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
symbols = sorted((int(a, 16), name) for a, _, name in (line.split()[:3] for line in open(symbols_file)))
starts = [a for a, _ in symbols]
counts = collections.Counter()
for line in open(rips_file):
    i = bisect.bisect_right(starts, int(line, 16)) - 1
    counts[symbols[i][1] if i >= 0 else '?'] += 1
total = sum(counts.values())
print(f"{total} emulated guest instructions in {seconds:g} s ({total / seconds:,.0f}/s)")
for name, n in counts.most_common(top):
    print(f"{n:9d} {100 * n / max(total, 1):5.1f}%  {name}")
PY
