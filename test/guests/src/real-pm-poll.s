# Protected mode: reads the test device's SCRATCH_SIZE register (0x818,
# always 0x800 while the device works) in a loop. When the device stops
# answering the VMM returns all ones: print "device gone" and exit with 5.
.include "include/protected-mode.inc"
ENTER_PROTECTED_MODE
protected:
    mov  $0x3f8, %dx
    mov  $'.', %al
    out  %al, (%dx)               # "polling started"
poll:
    mov  DEV + 0x818, %eax
    cmp  $0x800, %eax
    je   poll
    cmp  $0xffffffff, %eax
    jne  strange
    mov  $(LOAD + gone), %esi
    call print
    mov  $5, %al
    jmp  exit_with_al
strange:
    mov  $(LOAD + odd), %esi
    call print
    mov  $6, %al
    jmp  exit_with_al
gone: .asciz "device gone\n"
odd:  .asciz "unexpected value\n"
PROTECTED_MODE_SUPPORT
