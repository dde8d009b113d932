# Real mode -> 32-bit protected mode, then drive the test device: fill the
# scratch window with byte writes, ring the doorbell, and check RESULT against
# the sum computed here. Prints a report on COM1 and exits with 0 (match) or 1.
.include "include/protected-mode.inc"
.set SCRATCH_BYTES, 0x800
ENTER_PROTECTED_MODE
protected:
    # scratch[i] = i * 7 (byte writes), our own sum in %ebx
    xor  %ecx, %ecx
    xor  %ebx, %ebx
fill:
    mov  %ecx, %eax
    imul $7, %eax
    movb %al, DEV(%ecx)
    movzbl %al, %eax
    add  %eax, %ebx
    inc  %ecx
    cmp  $SCRATCH_BYTES, %ecx
    jne  fill

    movl $1, DEV + 0x800          # doorbell: RESULT := sum of scratch
    mov  DEV + 0x808, %eax        # RESULT
    cmp  %ebx, %eax
    jne  mismatch
    mov  $(LOAD + ok_message), %esi
    call print
    mov  $0, %al
    jmp  exit_with_al
mismatch:
    mov  $(LOAD + bad_message), %esi
    call print
    mov  $1, %al
    jmp  exit_with_al

ok_message:  .asciz "mmio ok\n"
bad_message: .asciz "mmio MISMATCH\n"
PROTECTED_MODE_SUPPORT
