# Executes an instruction that KVM must emulate but cannot: an x87 load
# (FILD, opcode DF /0) from an address in the MMIO gap where no device is.
# The access is not to RAM, so KVM decodes the instruction to emulate it;
# its emulator has no x87 memory forms, on hardware KVM and on software-nested
# KVM alike, so the VM ends with KVM_EXIT_INTERNAL_ERROR (emulation failure).
# The VMM must end the VM with a clear report instead of hanging.
.include "include/protected-mode.inc"
.set UNBACKED, 0xc0000000         # the machine's MMIO gap, no device here
ENTER_PROTECTED_MODE
protected:
    fninit
bad_instruction:
    filds UNBACKED
    mov  $0, %al
    jmp  exit_with_al
PROTECTED_MODE_SUPPORT
