# Protected mode: reads the test device's SCRATCH_SIZE register (0x818,
# always 0x800 while the device works) in a loop. When the device stops
# answering the VMM returns all ones: print "device gone" and exit with 5.
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
    mov  $5, %ah
    jmp  report
strange:
    mov  $(LOAD + odd), %esi
    mov  $6, %ah
report:
1:  lodsb
    test %al, %al
    jz   2f
    out  %al, (%dx)
    jmp  1b
2:  mov  %ah, %al
    mov  $0x501, %dx
    out  %al, (%dx)
    hlt
gone: .asciz "device gone\n"
odd:  .asciz "unexpected value\n"
.p2align 3
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff
    .quad 0x00cf92000000ffff
gdt_descriptor:
    .word gdt_descriptor - gdt - 1
    .long LOAD + gdt
