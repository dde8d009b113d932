# Several vCPUs: each checks in with its APIC ID and writes 20000 bytes of its
# own letter to COM1 at the same time as the others (include/smp.inc).
.set HAMMER_BYTES, 20000
.set HAMMER_DELAY, 0
.include "include/smp.inc"
