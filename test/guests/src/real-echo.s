# Real mode: echoes COM1 input back, upper-casing letters, until it reads
# 'q'; then exits with status 3. Polls LSR (every poll is a port exit).
.code16
.globl _start
_start:
    mov  $0x3fd, %dx          # LSR
wait:
    in   (%dx), %al
    test $1, %al              # data ready?
    jz   wait
    mov  $0x3f8, %dx
    in   (%dx), %al           # RBR
    cmp  $'q', %al
    je   quit
    cmp  $'a', %al
    jb   echo
    cmp  $'z', %al
    ja   echo
    sub  $0x20, %al
echo:
    out  %al, (%dx)           # THR
    mov  $0x3fd, %dx
    jmp  wait
quit:
    mov  $0x501, %dx
    mov  $3, %al
    out  %al, (%dx)
    hlt
