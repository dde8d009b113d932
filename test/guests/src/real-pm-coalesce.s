# Protected mode, test device at 0xd0000000: writes scratch[0..99] = i,
# stops at port 0x80 (one exit: the VMM inspects or changes the coalesced
# zones while those writes are still queued), writes scratch[100..199],
# rings the doorbell and checks RESULT. Prints "coalesce ok" / "coalesce BAD".
.set LOAD, 0x10000
.set DEV, 0xd0000000
.code16
.globl _start
_start:
    cli
    lgdtl gdt_descriptor
    mov  %cr0, %eax
    or   $1, %eax
    mov  %eax, %cr0
    ljmpl $0x08, $(LOAD + protected)
.code32
protected:
    mov  $0x10, %ax
    mov  %ax, %ds
    mov  %ax, %ss
    mov  $0x9000, %esp
    xor  %ecx, %ecx
    xor  %ebx, %ebx
first:
    movb %cl, DEV(%ecx)
    add  %ecx, %ebx
    inc  %ecx
    cmp  $100, %ecx
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
    mov  $0, %ah
    jmp  report
bad:
    mov  $(LOAD + wrong), %esi
    mov  $1, %ah
report:
    mov  $0x3f8, %dx
1:  lodsb
    test %al, %al
    jz   2f
    out  %al, (%dx)
    jmp  1b
2:  mov  %ah, %al
    mov  $0x501, %dx
    out  %al, (%dx)
    hlt
ok:    .asciz "coalesce ok\n"
wrong: .asciz "coalesce BAD\n"
.p2align 3
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
gdt_descriptor:
    .word gdt_descriptor - gdt - 1
    .long LOAD + gdt
