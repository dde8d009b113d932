# Real mode: checks what COM1's status registers say, read the way Linux's
# console reads them (LSR before every byte). With several vCPUs a vCPU
# thread answers LSR and MSR from the UART's register mirror; in loopback
# the UART itself must answer, after the transmit byte still queued in the
# coalesced ring. Prints "uart status ok" and exits with 0, or names the
# failed step and exits with it (1-5).
.code16
.globl _start
_start:
    mov  $0x3f8, %dx
    mov  $5000, %cx                  # 1: idle, LSR = THRE | TEMT, nothing received
idle:
    add  $5, %dx
    in   (%dx), %al
    sub  $5, %dx
    cmp  $0x60, %al
    jne  fail1
    loop idle
    add  $6, %dx                     # 2: MSR = DCD | DSR | CTS
    in   (%dx), %al
    sub  $6, %dx
    cmp  $0xb0, %al
    jne  fail2
    add  $4, %dx                     # loopback on (MCR = LOOP | OUT2)
    mov  $0x18, %al
    out  %al, (%dx)
    sub  $4, %dx
    mov  $'x', %al                   # into the coalesced transmit register:
    out  %al, (%dx)                  # in loopback it comes back as input
    add  $5, %dx                     # 3: LSR says it arrived (DR)
    in   (%dx), %al
    sub  $5, %dx
    cmp  $0x61, %al
    jne  fail3
    in   (%dx), %al                  # 4: and it is the byte sent
    cmp  $'x', %al
    jne  fail4
    add  $4, %dx                     # loopback off
    mov  $0x08, %al
    out  %al, (%dx)
    add  $1, %dx                     # 5: idle again
    in   (%dx), %al
    sub  $5, %dx
    cmp  $0x60, %al
    jne  fail5
    mov  $ok, %si
    xor  %bl, %bl
    jmp  report
fail1: mov $1, %bl
    jmp  failed
fail2: mov $2, %bl
    jmp  failed
fail3: mov $3, %bl
    jmp  failed
fail4: mov $4, %bl
    jmp  failed
fail5: mov $5, %bl
failed:
    mov  $bad, %si
    mov  $0x3f8, %dx
    lodsb                            # "step N failed": the step's digit first
    mov  %bl, %al
    add  $'0', %al
    out  %al, (%dx)
report:
    mov  $0x3f8, %dx
next:
    lodsb
    test %al, %al
    jz   done
    out  %al, (%dx)
    jmp  next
done:
    mov  $0x501, %dx
    mov  %bl, %al
    out  %al, (%dx)
    hlt
ok:  .asciz "uart status ok\n"
bad: .asciz "# failed\n"
