# Several vCPUs writing their letters to COM1 without end (include/smp.inc):
# for pause, resume and stop while every vCPU is busy. Unhurried (a busy
# loop between bytes): a flood of exits locks up a nested L1 with 2 vCPUs.
.set HAMMER_BYTES, 0
.set HAMMER_DELAY, 20000
.include "include/smp.inc"
