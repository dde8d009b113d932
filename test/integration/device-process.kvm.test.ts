// Device models in their own jailed process, served over the ioregionfd
// protocol: the guest cannot tell (but for speed), and the death of the
// device process is reported and turns into device errors, never a hang.
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { describeKvm } from '../support/host-requirements.js';
import { GUEST_BIN, runTsvmm } from '../support/run-tsvmm.js';

const machine = (name: string) => join(PROJECT_ROOT, 'test', 'machines', `${name}.json`);
const run = (payload: string, machineName: string, ...extra: string[]) =>
  runTsvmm(['run', '--raw-payload', join(GUEST_BIN, payload), '--machine', machine(machineName), '--log-level', 'warn', ...extra]);

describeKvm('device in a separate process', () => {
  it('the same guest gives the same results in-process and in a separate process', async () => {
    for (const extra of [[], ['--no-coalesced']]) {
      const inline = await run('real-pm-mmio.bin', 'test-devices', ...extra);
      const separate = await run('real-pm-mmio.bin', 'test-device-separate', ...extra);
      expect(separate.stdout).toBe('mmio ok\n');
      expect([separate.stdout, separate.status]).toEqual([inline.stdout, inline.status]);
    }
  });

  it("a guest that never uses its separate device, and so may end before that device's process serves (the guest does not wait for it), ends with its own status, no error", async () => {
    const r = await runTsvmm(['run', '--raw-payload', join(GUEST_BIN, 'real-hello.bin'), '--machine', machine('test-device-separate'), '--log-level', 'debug']);
    expect(r.stdout).toBe('Hello from real mode\n');
    expect(r.status, r.stderr.slice(-3000)).toBe(42);
    expect(r.stderr).not.toMatch(/"level":(50|60)/);
    expect(r.stderr).toMatch(/device process serving/);
  });

  it('posted writes stay ordered before a following read (coalesced and not)', async () => {
    // real-pm-coalesce: 200 byte writes (posted), a doorbell write, then a RESULT read that must see them all.
    for (const extra of [[], ['--no-coalesced']]) {
      const r = await run('real-pm-coalesce.bin', 'test-device-separate', ...extra);
      expect(r.stdout).toBe('coalesce ok\n');
      expect(r.status).toBe(0);
    }
  });

  it('when the device process dies mid-run, the VMM reports it and the guest sees the device fail', async () => {
    let killed = false;
    const r = await runTsvmm(['run', '--raw-payload', join(GUEST_BIN, 'real-pm-poll.bin'), '--machine', machine('test-device-separate'), '--log-level', 'info'], {
      onStderrLine: (line) => {
        if (killed || !line.includes('device model runs in its own process')) return;
        killed = true;
        const { pid } = JSON.parse(line);
        setTimeout(() => process.kill(pid, 'SIGKILL'), 1000);
      },
    });
    expect(killed).toBe(true);
    expect(r.timedOut).toBe(false);
    expect(r.stdout).toBe('.device gone\n');
    expect(r.status).toBe(5);
    expect(r.stderr).toMatch(/device testdev failed: the device end closed its socket/);
  });
});
