# Protected mode: 20000 writes of one test-device register, each its own MMIO
# exit (run with --no-coalesced for writes), then status 0. The ioregionfd
# benchmark runs it with the device in the VMM and in a device process.
.include "include/protected-mode.inc"
ENTER_PROTECTED_MODE
protected:
    mov  $20000, %ecx
1:
    movl %ecx, DEV + 0x10
    dec  %ecx
    jnz  1b
    mov  $0, %al
    jmp  exit_with_al
PROTECTED_MODE_SUPPORT
