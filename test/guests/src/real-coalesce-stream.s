# Real mode: 3400 bytes counting up (byte i is i mod 256) to COM1's transmit
# register, a coalesced zone, with a checkpoint exit (port 0x80) after every
# 100, then status 0 on the exit device. At each checkpoint the coalesced-ring
# test drains the ring only to its end, so the consumer's cursor wraps while
# the ring still holds more than 85 writes: the case Linux 6.1's room check
# gets wrong (docs/host-kvm.md, "Coalesced ring").
.code16
.globl _start
_start:
    xor  %cx, %cx                    # bytes written
    mov  $0x3f8, %dx
burst:
    mov  $100, %bx
next:
    mov  %cl, %al
    out  %al, (%dx)
    inc  %cx
    dec  %bx
    jnz  next
    out  %al, $0x80                  # the checkpoint
    cmp  $3400, %cx
    jne  burst
    mov  $0x501, %dx
    mov  $0, %al
    out  %al, (%dx)
    hlt
