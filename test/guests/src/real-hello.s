# Real mode: prints a line on COM1, then reports status 42 on the exit device.
.code16
.globl _start
_start:
    mov  $message, %si
    mov  $0x3f8, %dx
next:
    lodsb
    test %al, %al
    jz   done
    out  %al, (%dx)
    jmp  next
done:
    mov  $0x501, %dx
    mov  $42, %al
    out  %al, (%dx)
    hlt
message:
    .asciz "Hello from real mode\n"
