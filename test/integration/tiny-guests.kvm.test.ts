// Tiny purpose-built guests (test/guests/src) run by the real CLI under KVM.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { deadline } from '../support/deadline.js';
import { describeKvm } from '../support/host-requirements.js';
import { exitStats } from '../support/exit-stats.js';
import { GUEST_BIN, TSVMM_BIN, runTsvmm } from '../support/run-tsvmm.js';

const TEST_MACHINE = join(PROJECT_ROOT, 'test', 'machines', 'test-devices.json');
const payload = (name: string, ...extra: string[]) => ['run', '--raw-payload', join(GUEST_BIN, name), '--log-level', 'warn', ...extra];

const stats = (stderr: string) =>
  exitStats<{ exitsByReason: Record<string, number>; coalescedDrained: number; coalescedByDevice: Record<string, number>; totalExits: number; runSeconds: number }>(stderr);

describeKvm('tiny guests', () => {
  it('real mode: serial output and an exit status', async () => {
    const r = await runTsvmm(payload('real-hello.bin'));
    expect(r.timedOut).toBe(false);
    expect(r.stdout).toBe('Hello from real mode\n');
    expect(r.status).toBe(42);
  });

  /** The helper's start-up marks from the debug log of a run of the tiny guest (ms since its start). */
  async function helperStartMarks(env?: NodeJS.ProcessEnv): Promise<Record<string, number>> {
    const r = await runTsvmm(['run', '--raw-payload', join(GUEST_BIN, 'real-hello.bin'), '--log-level', 'debug'], { env });
    expect(r.status, r.stderr.slice(-3000)).toBe(42);
    const line = r.stderr.split('\n').find((l) => l.includes("the helper's start"));
    expect(line, r.stderr.slice(-3000)).toBeDefined();
    return (JSON.parse(line!) as { msSinceStart: Record<string, number> }).msSinceStart;
  }

  /** The marks `steps` are all there, in that order (1 ms for rounding across threads). */
  function expectInOrder(m: Record<string, number>, steps: string[]): void {
    for (const step of steps) expect(m[step], `${step} in ${JSON.stringify(m)}`).toBeGreaterThan(0);
    for (let i = 1; i < steps.length; i++) expect(m[steps[i]] + 1, `${steps[i - 1]} before ${steps[i]}: ${JSON.stringify(m)}`).toBeGreaterThanOrEqual(m[steps[i - 1]]);
  }

  it('the debug log says where the start went; a lone vCPU is built on the main thread, no worker started', async () => {
    const m = await helperStartMarks();
    expectInOrder(m, ['codeLoaded', 'configured', 'vmBuilt', 'vcpuBuilt', 'vcpuThreadReady', 'jailed']);
    expect(m.vcpuThreadOnline, JSON.stringify(m)).toBeUndefined();
    expect(m.vcpuCodeLoaded, JSON.stringify(m)).toBeUndefined();
  });

  it("with TSVMM_VCPU_THREAD=worker the vCPU gets a worker thread: its steps on the helper's clock", async () => {
    const m = await helperStartMarks({ TSVMM_VCPU_THREAD: 'worker' });
    expectInOrder(m, ['codeLoaded', 'configured', 'vmBuilt', 'vcpuStarted', 'vcpuBuilt', 'vcpuThreadReady', 'jailed']);
    expect(m.vcpuCodeLoaded).toBeLessThanOrEqual(m.vcpuStarted);
  });

  it('long mode through the Linux 64-bit boot protocol: the zero page carries the command line', async () => {
    const r = await runTsvmm(['run', '--kernel', join(GUEST_BIN, 'long-hello.elf'), '--cmdline', 'hello there', '--log-level', 'warn']);
    // The VMM appends its virtio-mmio declarations (the default machine has virtio-rng) after the user's
    // words, and the reboot method its ACPI tables offer (run-command.ts rebootWords).
    expect(r.stdout).toMatch(/^long mode, cmdline: hello there( virtio_mmio\.device=4K@0x[0-9a-f]+:\d+)+ reboot=acpi\n$/);
    expect(r.status).toBe(7);
  });

  it('a second SIGTERM kills a VM that did not stop at the first (its helper stuck), with the status of a stop', async () => {
    let pid = 0;
    let helperPid = 0;
    let guestWrote = false;
    let signalled = false;
    // Once the guest runs (its line is out) and the helper's pid is known, in either order.
    const stopStuckHelper = () => {
      if (signalled || !guestWrote || !helperPid) return;
      signalled = true;
      process.kill(helperPid, 'SIGSTOP'); // the helper can no longer hear the stop
      process.kill(pid, 'SIGTERM');
      setTimeout(() => process.kill(pid, 'SIGTERM'), 1000);
    };
    const r = await runTsvmm(['run', '--raw-payload', join(GUEST_BIN, 'real-write-spin.bin'), '--log-level', 'debug'], {
      onSpawn: (p) => (pid = p),
      onStderrLine: (line) => {
        if (line.includes('helper is running the guest')) helperPid = (JSON.parse(line) as { pid: number }).pid;
        stopStuckHelper();
      },
      onStdout: (all) => {
        guestWrote = all.endsWith('\n');
        stopStuckHelper();
      },
    });
    expect(signalled, r.stderr.slice(-2000)).toBe(true);
    expect(r.timedOut).toBe(false);
    expect(r.status, r.stderr.slice(-2000)).toBe(130);
    expect(r.stderr).toContain('received SIGTERM again: killing the VM');
    expect(r.stderr).toContain('the VM did not stop when asked, and was killed');
  });

  it('a jump to the reset vector (as in a BIOS reboot) ends the VM as a reset, not a hang', async () => {
    const r = await runTsvmm(payload('real-reset-vector.bin'));
    expect(r.timedOut).toBe(false);
    expect(r.stdout).toBe('R');
    expect(r.status).toBe(1); // the triple fault's KVM_EXIT_SHUTDOWN: a reset
  });

  it('ends like a local program on SIGPIPE (141) when the reader of the UART console goes away: `tsvmm run | head -c 100`', async () => {
    // One vCPU writing to COM1 without end.
    const child = spawn(TSVMM_BIN, [...payload('real-pm-smp-forever.bin', '--cpus', '1')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const killer = setTimeout(() => child.kill('SIGKILL'), deadline(30_000));
    try {
      const first = await new Promise<string>((resolve) => child.stdout.once('data', (d: Buffer) => resolve(d.toString())));
      expect(first).toMatch(/^0[Aa]*$/);
      child.stdout.destroy(); // the reader is gone
      const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(status, err).toBe(141);
      expect(err).not.toMatch(/EPIPE|Error:/);
    } finally {
      clearTimeout(killer);
      child.kill('SIGKILL');
    }
  });

  it('writes the UART console into a file that stdout is redirected to, and to a closed stdout without failing: `tsvmm run > out`, `tsvmm run >&-`', async () => {
    // The jailed helper may grow no file (RLIMIT_FSIZE): a file gets the console through the frontend.
    const dir = mkdtempSync(join(tmpdir(), 'tsvmm-stdout-'));
    try {
      const outFile = join(dir, 'out');
      const [file, none] = await Promise.all([
        runTsvmm(payload('real-hello.bin'), { wrapper: ['sh', '-c', 'exec "$0" "$@" > "$TSVMM_TEST_OUT"'], env: { TSVMM_TEST_OUT: outFile }, timeoutMs: deadline(60_000) }),
        runTsvmm(payload('real-hello.bin'), { wrapper: ['sh', '-c', 'exec "$0" "$@" >&-'], timeoutMs: deadline(60_000) }),
      ]);
      expect(file.status, file.stderr).toBe(42);
      expect(readFileSync(outFile, 'latin1')).toBe('Hello from real mode\n');
      expect(none.status, none.stderr).toBe(42);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the CPU template reaches the guest through KVM_SET_CPUID2', async () => {
    // Exit status bit 1 = CPUID.1:ECX.CX16 as the guest sees it. KVM on this
    // host reports CX16 as supported, so `host` shows it and `nested-safe`
    // must hide it. (Bit 0, XSAVE, is not asserted: software-nested KVM lets
    // the hardware's value through whatever the table says; docs/host-kvm.md.)
    const cpuid = (template: string) =>
      runTsvmm(['run', '--kernel', join(GUEST_BIN, 'long-cpuid.elf'), '--cpu-template', template, '--log-level', 'warn']);
    const [safe, host] = await Promise.all([cpuid('nested-safe'), cpuid('host')]);
    expect(safe.status! & 2).toBe(0);
    expect(host.status! & 2).toBe(2);
  });

  it('runs its guest through the helper bin/tsvmm started before the frontend (src/cli/launched-helper.ts), console input and output included', async () => {
    // Forced: on one CPU (this suite's L1) neither the launcher nor the frontend starts the helper early.
    const r = await runTsvmm(['run', '--raw-payload', join(GUEST_BIN, 'real-echo.bin'), '--log-level', 'debug'], { input: 'hello, guest\nq', env: { TSVMM_EARLY_HELPER: '1' } });
    expect(r.stdout).toBe('HELLO, GUEST\n');
    expect(r.status, r.stderr.slice(-3000)).toBe(3);
    const report = JSON.parse(r.stderr.split('\n').find((l) => l.includes('"msg":"early start"'))!);
    expect(report.launcherHelper).toBe('taken');
    expect(r.stderr).not.toContain('could not be used');
    const marks = JSON.parse(r.stderr.split('\n').find((l) => l.includes("the helper's start"))!).msSinceStart;
    expectInOrder(marks, ['codeLoaded', 'frontendConnected', 'configured', 'jailed']);
  });

  it('console input reaches the guest UART and its echo comes back', async () => {
    const r = await runTsvmm(payload('real-echo.bin'), { input: 'hello, guest\nq' });
    expect(r.stdout).toBe('HELLO, GUEST\n');
    expect(r.status).toBe(3);
  });

  it('protected mode: MMIO reads and writes reach the test device', async () => {
    const r = await runTsvmm(payload('real-pm-mmio.bin', '--machine', TEST_MACHINE));
    expect(r.stdout).toBe('mmio ok\n');
    expect(r.status).toBe(0);
  });

  it('a failing instruction ends the VM with the exit, suberror, RIP and instruction bytes', async () => {
    const r = await runTsvmm(payload('real-bad-insn.bin'));
    expect(r.timedOut).toBe(false);
    expect(r.status).toBe(2);
    // An x87 load from the MMIO gap: every KVM's instruction emulator lacks it (test/guests/src/real-bad-insn.s).
    expect(r.stderr).toMatch(/KVM_EXIT_INTERNAL_ERROR, suberror 1 \(emulation failure\), at RIP 0x1002c \(32-bit mode, CS 0x8\), instruction bytes: df 05 00 00 00 c0/);
  });

  describe('coalesced zones', () => {
    it('the same guest sees the same device state with zones on and off, with fewer exits on', async () => {
      const on = await runTsvmm(payload('real-pm-mmio.bin', '--machine', TEST_MACHINE, '--stats'));
      const off = await runTsvmm(payload('real-pm-mmio.bin', '--machine', TEST_MACHINE, '--stats', '--no-coalesced'));
      expect(on.stdout).toBe('mmio ok\n');
      expect(off.stdout).toBe(on.stdout);
      expect([on.status, off.status]).toEqual([0, 0]);
      const sOn = stats(on.stderr);
      const sOff = stats(off.stderr);
      expect(sOff.coalescedDrained).toBe(0);
      // 2048 scratch writes + 8 console bytes went through the ring.
      // Every scratch write went through the ring, or (ring full) was a plain exit;
      // the other two MMIO exits are the doorbell and the RESULT read.
      expect(sOn.coalescedByDevice.testdev + sOn.exitsByReason.KVM_EXIT_MMIO - 2).toBe(2048);
      expect(sOn.coalescedByDevice.com1).toBe(8);
      expect(sOff.exitsByReason.KVM_EXIT_MMIO).toBe(2050);
      expect(sOn.totalExits * 3).toBeLessThan(sOff.totalExits);
    });

    it("reach the console from a guest that never exits again, through the vCPU's own sweeps, which back off", async () => {
      let pid = 0;
      let stopped = false;
      const r = await runTsvmm(payload('real-write-spin.bin', '--stats'), {
        onSpawn: (p) => (pid = p),
        onStdout: (all) => {
          // The line is out: let the sweeps run on a while with nothing to drain, then stop.
          if (all.endsWith('\n') && !stopped) {
            stopped = true;
            setTimeout(() => process.kill(pid, 'SIGTERM'), 300);
          }
        },
      });
      expect(r.timedOut).toBe(false);
      expect(r.stdout).toBe('written, now spinning\n');
      expect(r.status).toBe(130); // stopped
      const s = stats(r.stderr);
      expect(s.coalescedByDevice.com1).toBe(22);
      // The guest's only exits were the sweeps (and the stop's kick)...
      expect(s.exitsByReason.KVM_EXIT_INTR).toBe(s.totalExits);
      // ...which went from the shortest period back to the longest: never
      // more than one per 16 ms, after the first few (ring-sweep.ts).
      expect(s.exitsByReason.KVM_EXIT_INTR).toBeLessThanOrEqual(Math.ceil((s.runSeconds * 1000) / 16) + 8);
    });
  });
});
