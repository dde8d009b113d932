# Real mode: 100000 OUTs to port 0x80 (unclaimed: each one a full exit to the
# VMM and back, no device), then status 0 on the exit device. The PIO
# round-trip benchmark's guest; tools/bench/pio-loop.c runs the same bytes
# under a C exit loop.
.set PORT, 0x80
.include "include/pio-loop.inc"
