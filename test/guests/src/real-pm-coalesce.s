# Protected mode, test device: writes scratch[0..79] = i, stops at port 0x80
# (one exit: the VMM inspects or changes the coalesced zones while those
# writes are still queued), writes scratch[80..199], rings the doorbell and
# checks RESULT. 80 fits the ring on every KVM: older kernels (Debian 12's
# 6.1) report it full at 85 entries (docs/host-kvm.md, "Coalesced ring").
# Prints "coalesce ok" (status 0) or "coalesce BAD" (status 1).
.include "include/protected-mode.inc"
ENTER_PROTECTED_MODE
protected:
    xor  %ecx, %ecx
    xor  %ebx, %ebx
first:
    movb %cl, DEV(%ecx)
    add  %ecx, %ebx
    inc  %ecx
    cmp  $80, %ecx
    jne  first
    out  %al, $0x80               # the checkpoint exit
second:
    movb %cl, DEV(%ecx)
    add  %ecx, %ebx
    inc  %ecx
    cmp  $200, %ecx
    jne  second
    movl $1, DEV + 0x800
    cmp  DEV + 0x808, %ebx
    jne  bad
    mov  $(LOAD + ok), %esi
    call print
    mov  $0, %al
    jmp  exit_with_al
bad:
    mov  $(LOAD + wrong), %esi
    call print
    mov  $1, %al
    jmp  exit_with_al
ok:    .asciz "coalesce ok\n"
wrong: .asciz "coalesce BAD\n"
PROTECTED_MODE_SUPPORT
