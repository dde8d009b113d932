# Real mode: prints a line on COM1, then spins without end and without an
# exit: COM1's transmit register is a coalesced zone, so the line reaches the
# console only when the VMM takes the vCPU out of the guest (the vCPU's ring
# sweep, src/vmm/ring-sweep.ts).
.code16
.globl _start
_start:
    cli
    mov  $message, %si
    mov  $0x3f8, %dx
next:
    lodsb
    test %al, %al
    jz   spin
    out  %al, (%dx)
    jmp  next
spin:
    jmp  spin
message:
    .asciz "written, now spinning\n"
