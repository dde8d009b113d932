# Real mode: 100000 OUTs to COM1's scratch register (port 0x3ff: a device,
# and outside the UART's coalesced zone, so each one is a full exit served by
# the UART model), then status 0 on the exit device. The benchmark of what a
# device exit costs with one vCPU (the UART in the vCPU thread) and with
# several (the UART on the VMM's main thread, the access forwarded to it).
.set PORT, 0x3ff
.include "include/pio-loop.inc"
