# A minimal 64-bit ELF "kernel": entered through the Linux 64-bit boot
# protocol (long mode, identity-mapped, RSI = zero page). Prints the kernel
# command line it finds through the zero page, then exits with status 7.
.set CMD_LINE_PTR, 0x228          # boot_params.hdr.cmd_line_ptr
.code64
.globl _start
_start:
    mov  $0x3f8, %dx
    lea  banner(%rip), %rbx
    call print
    mov  CMD_LINE_PTR(%rsi), %ebx # 32-bit physical address, identity-mapped
    call print
    mov  $'\n', %al
    out  %al, (%dx)
    mov  $0x501, %dx
    mov  $7, %al
    out  %al, (%dx)
1:  hlt
    jmp  1b

print:                            # prints the NUL-terminated string at %rbx
    movb (%rbx), %al
    test %al, %al
    jz   2f
    out  %al, (%dx)
    inc  %rbx
    jmp  print
2:  ret

banner: .asciz "long mode, cmdline: "
