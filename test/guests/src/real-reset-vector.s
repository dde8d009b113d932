# Real mode: jumps to the reset vector (F000:FFF0), as Linux's BIOS reboot
# method does. tsvmm has no firmware there, only a stub that triple-faults:
# the run must end as a reset, not spin on zeroed memory.
.code16
.globl _start
_start:
    mov  $0x3f8, %dx
    mov  $'R', %al
    out  %al, (%dx)
    ljmp $0xf000, $0xfff0
