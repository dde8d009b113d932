// Several vCPUs, with tiny guests (test/guests/src/include/smp.inc): the boot
// CPU starts the others with INIT and start-up IPIs, each prints its APIC ID
// and then all write their own letter to the same UART at once, through the
// coalesced transmit register and the platform devices served on the VMM's
// main thread, upper and lower case in turn. No byte may be lost, doubled or
// overtaken by a later one of the same vCPU (when the ring is full, KVM exits
// on the transmit register instead); pause, resume and stop must hold every
// vCPU.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ask, sleep, waitFor } from '../support/control-client.js';
import { deadline } from '../support/deadline.js';
import { exitStats } from '../support/exit-stats.js';
import { describeKvm } from '../support/host-requirements.js';
import { GUEST_BIN, TSVMM_BIN, runTsvmm } from '../support/run-tsvmm.js';

/** Each vCPU's letters in real-pm-smp.s. */
const HAMMER_BYTES = 20_000;

const count = (text: string, ch: string) => text.split(ch).length - 1;
const letter = (apicId: number) => String.fromCharCode(65 + apicId);
/** The vCPU's bytes in the order they arrived: "AaAa..." when none overtook another. */
const bytesOf = (text: string, apicId: number) => text.replace(new RegExp(`[^${letter(apicId)}${letter(apicId).toLowerCase()}]`, 'g'), '');

describeKvm('several vCPUs', () => {
  for (const cpus of [1, 2, 4]) {
    it(`${cpus} vCPU(s): every one starts, reports its APIC ID, and its ${HAMMER_BYTES} bytes all arrive`, async () => {
      const r = await runTsvmm(['run', '--raw-payload', join(GUEST_BIN, 'real-pm-smp.bin'), '--cpus', String(cpus), '--stats', '--log-level', 'warn']);
      expect(r.timedOut).toBe(false);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.slice(-40)).toMatch(/[A-Za-z]\nsmp ok\n$/);
      for (let id = 0; id < cpus; id++) {
        expect(count(r.stdout, String(id)), `APIC ID ${id}`).toBe(1);
        const bytes = bytesOf(r.stdout, id);
        expect(bytes.length, `vCPU ${id}'s bytes`).toBe(HAMMER_BYTES);
        const overtaken = bytes.search(/(.)\1/);
        expect(overtaken, `vCPU ${id}'s bytes out of order at ${overtaken}: ${bytes.slice(Math.max(0, overtaken - 5), overtaken + 5)}`).toBe(-1);
      }
      expect(count(r.stdout, String(cpus))).toBe(0); // no vCPU more
      expect(r.stdout.length).toBe(cpus * (HAMMER_BYTES + 1) + '\nsmp ok\n'.length);
      const stats = exitStats<{ coalescedDrained: number; accessesByDevice: Record<string, number> }>(r.stderr);
      // Most of the letters went through the coalesced ring, not one exit each.
      expect(stats.coalescedDrained).toBeGreaterThan((cpus * HAMMER_BYTES) / 2);
    });
  }

  for (const cpus of [1, 2]) {
    it(`${cpus} vCPU(s): COM1's line and modem status read as Linux's console reads them, in loopback too`, async () => {
      const r = await runTsvmm(['run', '--raw-payload', join(GUEST_BIN, 'real-uart-status.bin'), '--cpus', String(cpus), '--stats', '--log-level', 'warn']);
      expect(r.timedOut).toBe(false);
      expect(r.stdout, r.stderr).toBe('uart status ok\n');
      expect(r.status).toBe(0);
      const stats = exitStats<{ readsAnsweredByVcpuByDevice: Record<string, number> }>(r.stderr);
      // One vCPU serves the UART in its own thread; with several, the vCPU
      // threads answer its idle status reads from the UART's register mirror.
      if (cpus > 1) expect(stats.readsAnsweredByVcpuByDevice.com1).toBeGreaterThanOrEqual(5_002);
    });
  }

  it('pause, resume and stop hold every vCPU while all of them write', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsvmm-smp-'));
    const socket = join(dir, 'ctl.sock');
    const child = spawn(TSVMM_BIN, ['run', '--raw-payload', join(GUEST_BIN, 'real-pm-smp-forever.bin'), '--cpus', '2', '--control-socket', socket, '--log-level', 'warn']);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    const killer = setTimeout(() => child.kill('SIGKILL'), deadline(60_000));
    try {
      // Both vCPUs are writing.
      await waitFor(() => count(out, 'A') > 100 && count(out, 'B') > 100, 'both vCPUs to write');
      expect(await ask(socket, '{"command":"pause"}')).toEqual({ ok: true, state: 'paused' });
      await sleep(300); // what was written before the pause may still be in the pipe
      const atPause = out.length;
      await sleep(500);
      expect(out.length).toBe(atPause); // nothing from either vCPU while paused
      expect(await ask(socket, '{"command":"resume"}')).toEqual({ ok: true, state: 'running' });
      await waitFor(() => count(out.slice(atPause), 'A') > 100 && count(out.slice(atPause), 'B') > 100, 'both vCPUs to write again');
      expect(await ask(socket, '{"command":"stop"}')).toEqual({ ok: true, state: 'stopping' });
      expect(await exited, err).toBe(130);
      expect(out).toMatch(/^[01ABab]+$/);
    } finally {
      clearTimeout(killer);
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
