// The wake that lets one thread run the guest and serve descriptors
// (src/kvm/kvm-run-wake.ts): a vCPU that never exits by itself, spinning or
// halted with interrupts off, leaves KVM_RUN with EINTR once a descriptor it
// watches becomes readable, and the completion says so.
import { spawn } from 'node:child_process';
import { afterEach, expect, it } from 'vitest';
import { KVM_IOCTL } from '../../ffi/kvm-abi.js';
import { EINTR, close, ioctlValue, koffi, pipe2, write } from '../../ffi/libc.js';
import { loadRealModePayload } from '../../src/boot/real-mode-payload.js';
import { KvmRunWake } from '../../src/kvm/kvm-run-wake.js';
import { KvmSystem } from '../../src/kvm/kvm-system.js';
import { VcpuSignal } from '../../src/kvm/vcpu-signal.js';
import { VcpuTimer } from '../../src/kvm/vcpu-timer.js';
import { applyBootState } from '../../src/kvm/vcpu-setup.js';
import { Vm } from '../../src/kvm/vm.js';
import { GuestMemory } from '../../src/memory/guest-memory.js';
import { describeKvm } from '../support/host-requirements.js';

const O_CLOEXEC = 0o2000000;
const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).reverse().forEach((f) => f()));

/** A one-vCPU VM running `code` (real mode, interrupts off); its vCPU descriptor. */
function vcpuRunning(code: number[]): number {
  const kvm = KvmSystem.open();
  const vm = Vm.create(kvm);
  const memory = GuestMemory.allocate([{ gpa: 0, size: 1 << 20 }]);
  vm.addMemory(memory);
  cleanups.push(() => (vm.close(), memory.release(), kvm.close()));
  const fd = vm.createVcpuFd(0);
  cleanups.push(() => close(fd));
  applyBootState(fd, loadRealModePayload(memory, new Uint8Array(code)));
  return fd;
}

function wakeOn(fd: number): KvmRunWake {
  const wake = KvmRunWake.create(fd);
  if (typeof wake === 'number') throw new Error(`no restricted io_uring here (errno ${-wake})`);
  cleanups.push(() => wake.close());
  return wake;
}

/** A pipe whose read end a child process writes to after `ms` (the child holds the write end). */
function pipeWrittenLater(ms: number): number {
  const fds = new Int32Array(2);
  expect(pipe2(fds, O_CLOEXEC)).toBe(0);
  const child = spawn('sh', ['-c', `sleep ${ms / 1000}; echo x >&3`], { stdio: ['ignore', 'ignore', 'inherit', fds[1]] });
  close(fds[1]);
  cleanups.push(() => (child.kill(), close(fds[0])));
  return fds[0];
}

describeKvm('KvmRunWake', () => {
  for (const [what, code] of [
    ['spins', [0xeb, 0xfe]], // jmp $
    ['halts with interrupts off', [0xfa, 0xf4, 0xeb, 0xfd]], // cli; hlt; jmp back to hlt
  ] as const) {
    it(`ends KVM_RUN of a vCPU that ${what} once the watched descriptor is readable`, () => {
      const vcpu = vcpuRunning([...code]);
      // A safety net, not the thing tested: a wake that did not work would
      // leave KVM_RUN only at this timer, and the test fails instead of hanging.
      const signal = new VcpuSignal(vcpu);
      const timer = new VcpuTimer();
      cleanups.push(() => (timer.delete(), signal.take()));
      timer.setPeriod(20_000);
      const wake = wakeOn(pipeWrittenLater(200));
      expect(wake.arm()).toBe(false); // nothing written yet
      expect(wake.fired).toBe(false);
      expect(ioctlValue(vcpu, KVM_IOCTL.KVM_RUN, 0)).toBe(-1);
      expect(koffi.errno()).toBe(EINTR);
      expect(wake.fired).toBe(true);
    });
  }

  it('says at once when the descriptor is readable already, and watches again after each wake', () => {
    const fds = new Int32Array(2);
    expect(pipe2(fds, O_CLOEXEC)).toBe(0);
    cleanups.push(() => (close(fds[0]), close(fds[1])));
    const wake = wakeOn(fds[0]);
    expect(wake.arm()).toBe(false);
    expect(write(fds[1], new Uint8Array([1]), 1)).toBe(1);
    // The poll completes as the byte arrives: no KVM_RUN was needed to see it.
    expect(wake.fired).toBe(true);
    // Still readable: armed again, it completes during the submission itself.
    expect(wake.arm()).toBe(true);
  });
});
