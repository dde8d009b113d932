# Real mode: 100000 INs from COM1's line status register (port 0x3fd), as
# Linux's console reads it before every byte, each a full exit, then status
# 0 on the exit device. The benchmark of a status read with one vCPU (the
# UART in the vCPU thread) and with several (answered from the UART's
# register mirror in the vCPU thread: src/bus/register-mirror.ts).
.set PORT, 0x3fd
.set PIO_READ, 1
.include "include/pio-loop.inc"
