# Protected mode: 20000 reads of one test-device register, each its own MMIO
# exit (run with --no-coalesced for writes), then status 0. The ioregionfd
# benchmark runs it with the device in the VMM and in a device process.
.include "include/protected-mode.inc"
ENTER_PROTECTED_MODE
protected:
    mov  $20000, %ecx
1:
    mov  DEV + 0x818, %eax
    dec  %ecx
    jnz  1b
    mov  $0, %al
    jmp  exit_with_al
PROTECTED_MODE_SUPPORT
