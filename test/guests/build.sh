#!/usr/bin/env bash
# Assembles the tiny test guests in src/ into flat binaries in bin/ (committed,
# so running the tests needs no assembler). Needs binutils (as, ld), and gcc
# for the C guests (src/long-*.c, freestanding, linked like the long-*.s ones;
# src/pvh-*.c the same way, entered through their PVH note or e_entry).
# OUT=DIR builds into DIR instead (the tests check bin/ is up to date).
set -euo pipefail
cd "$(dirname "$0")"
out=${OUT:-bin}
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for src in src/*.s; do
  name=$(basename "$src" .s)
  case "$name" in
    real-*) as --32 -I src -o "$tmp/$name.o" "$src"
            ld -m elf_i386 -Ttext=0 --oformat binary -o "$out/$name.bin" "$tmp/$name.o" ;;
    long-*) as --64 -o "$tmp/$name.o" "$src"
            ld -m elf_x86_64 -static -nostdlib -N --no-warn-rwx-segments -Ttext=0x200000 -e _start -z noexecstack -o "$out/$name.elf" "$tmp/$name.o" ;;
  esac
  echo "built $name"
done
# C guests: no libc, no PIC, no SSE, no red zone (no IDT, interrupts off);
# -fno-ident and no build id keep the output byte-identical across builds.
cflags=(-m64 -O2 -std=gnu11 -Wall -Werror -ffreestanding -fno-pic -fno-pie -nostdlib -mno-red-zone
        -mgeneral-regs-only -fno-stack-protector -fcf-protection=none -fno-asynchronous-unwind-tables
        -fno-ident -fno-builtin)
for src in src/long-*.c src/pvh-*.c; do
  name=$(basename "$src" .c)
  # pvh-*: the segment (not .text) starts at 0x200000, so that the PVH note
  # lands in it, just before .text, rather than in a segment of its own at 4 MiB
  case "$name" in
    long-*) at=-Ttext=0x200000 ;;
    pvh-*) at=-Ttext-segment=0x200000 ;;
  esac
  gcc "${cflags[@]}" -I src/include -c -o "$tmp/$name.o" "$src"
  ld -m elf_x86_64 -static -nostdlib -N --no-warn-rwx-segments "$at" -e _start -z noexecstack --build-id=none -o "$out/$name.elf" "$tmp/$name.o"
  echo "built $name"
done
