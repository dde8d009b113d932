# Real mode: 100000 OUTs to port 0x80 (each one a full exit to the VMM and
# back), then status 0 on the exit device. The PIO round-trip benchmark's
# guest; tools/bench/pio-loop.c runs the same bytes under a C exit loop.
.code16
.globl _start
_start:
    mov  $100000, %ecx
    mov  $0x80, %dx
1:  out  %al, (%dx)
    dec  %ecx
    jnz  1b
    mov  $0x501, %dx
    mov  $0, %al
    out  %al, (%dx)
    hlt
