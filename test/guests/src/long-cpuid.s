# 64-bit: reports what CPUID leaf 1 says about XSAVE (ECX bit 26) and CX16
# (ECX bit 13) as exit status bit 0 and bit 1. The CPU template test checks
# that KVM_SET_CPUID2 really reaches the guest on this host.
.code64
.globl _start
_start:
    mov  $1, %eax
    xor  %ecx, %ecx
    cpuid
    xor  %eax, %eax
    bt   $26, %ecx
    adc  $0, %eax
    bt   $13, %ecx
    jnc  1f
    or   $2, %eax
1:  mov  $0x501, %dx
    out  %al, (%dx)
2:  hlt
    jmp  2b
