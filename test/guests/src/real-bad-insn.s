# Real mode: executes XRSTOR, which this host's software-nested KVM cannot
# emulate (KVM_EXIT_INTERNAL_ERROR, emulation failure) and hardware KVM
# rejects with #UD (no handler here: the guest dies). Either way the VMM must
# end the VM with a clear report instead of hanging.
.code16
.globl _start
_start:
    mov  $0x100, %si
    xrstor (%si)
    mov  $0x501, %dx
    mov  $0, %al
    out  %al, (%dx)
    hlt
