# Real mode -> 32-bit protected mode (flat segments), then drive the test
# device at 0xd0000000: fill the scratch window with byte writes, ring the
# doorbell, and check RESULT against the sum computed here. Prints a report
# on COM1 and exits with 0 (match) or 1 (mismatch) through the exit device.
.set LOAD, 0x10000
.set DEV, 0xd0000000
.set SCRATCH_BYTES, 0x800
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
    mov  %ax, %es
    mov  %ax, %ss
    mov  $0x9000, %esp

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
    jmp  exit
mismatch:
    mov  $(LOAD + bad_message), %esi
    call print
    mov  $1, %al
exit:
    mov  $0x501, %dx
    out  %al, (%dx)
    hlt

print:
    mov  $0x3f8, %dx
1:  lodsb
    test %al, %al
    jz   2f
    out  %al, (%dx)
    jmp  1b
2:  ret

ok_message:  .asciz "mmio ok\n"
bad_message: .asciz "mmio MISMATCH\n"

.p2align 3
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff      # 0x08: 32-bit code, flat
    .quad 0x00cf92000000ffff      # 0x10: data, flat
gdt_descriptor:
    .word gdt_descriptor - gdt - 1
    .long LOAD + gdt
