// Checks ffi/kvm-abi.ts against <linux/kvm.h> by compiling a probe that prints
// sizeof/offsetof for every declared layout, every ioctl request number and
// every named constant (capabilities, exit reasons, flags).
import { describe, expect, it } from 'vitest';
import {
  KVM_API_VERSION,
  KVM_CAP,
  KVM_EXIT,
  KVM_EXIT_IO_IN,
  KVM_EXIT_IO_OUT,
  KVM_INTERNAL_ERROR,
  KVM_IOCTL,
  KVM_IOEVENTFD_FLAG,
  KVM_IRQFD_FLAG_DEASSIGN,
  KVM_MP_STATE_RUNNABLE,
  KVM_PIT_SPEAKER_DUMMY,
  KVM_SYSTEM_EVENT,
  checkedStructs,
} from '../../ffi/kvm-abi.js';
import { findCCompiler } from '../support/c-compiler.js';
import { type CCheck, probeC } from '../support/c-probe.js';
import { describeNeeding } from '../support/host-requirements.js';

const cc = findCCompiler();

/** `{ CAP_X: 1 }` with prefix KVM_CAP_ → checks named like the header's macros. */
const named = (prefix: string, table: Readonly<Record<string, number>>): CCheck[] => Object.entries(table).map(([k, v]) => [`${prefix}${k}`, `${prefix}${k}`, v]);

const layoutChecks: CCheck[] = Object.entries(checkedStructs).flatMap(([type, layout]): CCheck[] => [
  // kvm_cpuid2 / kvm_msrs end in flexible arrays: sizeof is the header.
  [`${type} sizeof`, `sizeof(${type})`, layout.size],
  ...Object.entries(layout.offsets).map(([field, offset]): CCheck => [`${type} ${field}`, `offsetof(${type}, ${field})`, offset]),
]);

const constantChecks: CCheck[] = [
  ['KVM_API_VERSION', 'KVM_API_VERSION', KVM_API_VERSION],
  ...named('KVM_CAP_', KVM_CAP),
  ...named('KVM_EXIT_', KVM_EXIT),
  ['KVM_EXIT_IO_IN', 'KVM_EXIT_IO_IN', KVM_EXIT_IO_IN],
  ['KVM_EXIT_IO_OUT', 'KVM_EXIT_IO_OUT', KVM_EXIT_IO_OUT],
  ...named('KVM_INTERNAL_ERROR_', KVM_INTERNAL_ERROR),
  ...named('KVM_SYSTEM_EVENT_', KVM_SYSTEM_EVENT),
  ['KVM_PIT_SPEAKER_DUMMY', 'KVM_PIT_SPEAKER_DUMMY', KVM_PIT_SPEAKER_DUMMY],
  ['KVM_IRQFD_FLAG_DEASSIGN', 'KVM_IRQFD_FLAG_DEASSIGN', KVM_IRQFD_FLAG_DEASSIGN],
  ['KVM_IOEVENTFD_FLAG_DATAMATCH', 'KVM_IOEVENTFD_FLAG_DATAMATCH', KVM_IOEVENTFD_FLAG.DATAMATCH],
  ['KVM_IOEVENTFD_FLAG_PIO', 'KVM_IOEVENTFD_FLAG_PIO', KVM_IOEVENTFD_FLAG.PIO],
  ['KVM_IOEVENTFD_FLAG_DEASSIGN', 'KVM_IOEVENTFD_FLAG_DEASSIGN', KVM_IOEVENTFD_FLAG.DEASSIGN],
  ['KVM_MP_STATE_RUNNABLE', 'KVM_MP_STATE_RUNNABLE', KVM_MP_STATE_RUNNABLE],
];

const ioctlChecks = named('', KVM_IOCTL);

describeNeeding(cc ? undefined : 'no C compiler on PATH', 'KVM ABI matches <linux/kvm.h>', () => {
  const facts = cc ? probeC(cc, ['linux/kvm.h'], [...layoutChecks, ...constantChecks, ...ioctlChecks]) : new Map<string, number>();
  const expectAll = (checks: CCheck[]) => {
    for (const [name, , value] of checks) expect([name, facts.get(name)]).toEqual([name, value]);
  };

  it('struct sizes and field offsets', () => expectAll(layoutChecks));
  it('ioctl request numbers', () => expectAll(ioctlChecks));
  it('capabilities, exit reasons and flags', () => expectAll(constantChecks));
});
