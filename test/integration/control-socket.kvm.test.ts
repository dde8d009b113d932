// Pause, resume, status and stop through the control socket, against a guest
// that echoes console input (so "paused" is visible: no echo while paused).
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { describeKvm } from '../support/host-requirements.js';
import { GUEST_BIN, TSVMM_BIN } from '../support/run-tsvmm.js';
import { deadline } from '../support/deadline.js';
import { ask, sleep, waitFor } from '../support/control-client.js';

describeKvm('control socket', () => {
  it('pauses, resumes, reports status and stops the VM', async () => {
    const socket = join(mkdtempSync(join(tmpdir(), 'tsvmm-ctl-')), 'ctl.sock');
    const child = spawn(TSVMM_BIN, ['run', '--raw-payload', join(GUEST_BIN, 'real-echo.bin'), '--control-socket', socket, '--log-level', 'warn']);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((r) => child.on('close', r));
    const killer = setTimeout(() => child.kill('SIGKILL'), deadline(30_000));
    try {
      child.stdin.write('x');
      await waitFor(() => out === 'X', 'the guest to echo');
      expect(await ask(socket, '{"command":"status"}')).toEqual({ ok: true, state: 'running' });
      expect(await ask(socket, '{"command":"pause"}')).toEqual({ ok: true, state: 'paused' });
      child.stdin.write('y');
      await sleep(500);
      expect(out).toBe('X'); // paused: nothing echoed
      expect(await ask(socket, '{"command":"status"}')).toEqual({ ok: true, state: 'paused' });
      expect(await ask(socket, 'garbage')).toMatchObject({ ok: false, error: /not JSON/ });
      expect(await ask(socket, '{"command":"reboot"}')).toMatchObject({ ok: false, error: /unknown command "reboot"/ });
      expect(await ask(socket, '{"command":"resume"}')).toEqual({ ok: true, state: 'running' });
      await waitFor(() => out === 'XY', 'the echo after resume');
      expect(await ask(socket, '{"command":"stop"}')).toEqual({ ok: true, state: 'stopping' });
      expect(await exited).toBe(130);
    } finally {
      clearTimeout(killer);
      child.kill('SIGKILL');
    }
  });
});
