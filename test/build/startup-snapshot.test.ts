// The startup snapshots npm run build makes (tools/build/startup-snapshot.ts,
// src/startup-snapshot.ts): each is there and used where the build ran (by
// bin/tsvmm for the CLI), a process started from one runs its main function with its native
// calls bound (ffi/deferred-koffi.ts), the CLI's parser, compiled into its
// snapshot by the build, works as from the script, and one moved away from
// the bundle it was made with refuses to start. Reads dist/ (npm test builds it first).
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DeviceProcessConfig, FromDeviceProcess } from '../../src/device-process/device-process-protocol.js';
import { SNAPSHOT_ENTRY_POINTS, entryPointArgs, entryPointScript, startupSnapshotFile } from '../../src/entry-points.js';
import { PROJECT_ROOT } from '../../src/project-root.js';

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-snapshot-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('startup snapshots', () => {
  it('exist for the CLI and device processes, which start from them; the helper starts from its script', () => {
    expect(entryPointArgs('helper')).toEqual([entryPointScript('helper')]);
    for (const name of SNAPSHOT_ENTRY_POINTS) {
      expect(existsSync(startupSnapshotFile(name))).toBe(true);
      expect(entryPointArgs(name)).toEqual(['--snapshot-blob', startupSnapshotFile(name)]);
      // Node flags of the caller's own (a profiler) run the script instead.
      expect(entryPointArgs(name, ['--cpu-prof'])).toEqual(['--cpu-prof', entryPointScript(name)]);
    }
  });

  it('start a device process that serves: its main function runs and its native calls are bound', async () => {
    // Its descriptor socket at fd 3 and the IPC channel at fd 4, as process-launch.ts gives them.
    const child = spawn(process.execPath, entryPointArgs('device-process'), { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'ipc'] });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    try {
      const config: DeviceProcessConfig = { name: 'none', devices: [], descriptors: [], ram: [], logLevel: 'silent', prettyLogs: false, sandbox: false, seccomp: 'off' };
      const answer = new Promise<FromDeviceProcess>((resolve, reject) => {
        child.once('message', (m) => resolve(m as FromDeviceProcess));
        child.once('exit', (code) => reject(new Error(`the device process exited (${code}): ${stderr}`)));
      });
      child.send({ type: 'start', config });
      // Serving means it closed its descriptor socket, listed its descriptors and made its device loop: koffi calls all.
      expect(await answer).toEqual({ type: 'serving', hostPid: child.pid });
    } finally {
      child.kill('SIGKILL');
    }
  });

  it("start a CLI whose parser works as from its script, after the build parsed command lines in it (main.ts compileTheCommonPaths)", () => {
    for (const noSnapshot of ['0', '1']) {
      const tsvmm = (...args: string[]) =>
        spawnSync(join(PROJECT_ROOT, 'bin', 'tsvmm'), args, { encoding: 'utf8', timeout: 60_000, env: { ...process.env, TSVMM_NO_SNAPSHOT: noSnapshot } });
      const badChoice = tsvmm('run', '--seccomp', 'bogus', '--', 'true');
      expect(badChoice.status).toBe(2);
      expect(badChoice.stderr).toContain('Argument: seccomp, Given: "bogus"');
      // Parsed, and run: the command reads its kernel first.
      const parsed = tsvmm('run', '--mem', '256M', '--kernel', join(dir, 'no-such-kernel'), '--', 'true');
      expect(parsed.status).toBe(2);
      expect(parsed.stderr).toBe(`tsvmm: cannot read the kernel ${join(dir, 'no-such-kernel')}: no such file\n`);
      expect(tsvmm('exec', '--machine', 'microvm', '--', 'true').stderr).toBe('tsvmm: Unknown argument: machine\n');
    }
  });

  it('refuse to start away from the bundle they were made with', () => {
    const moved = join(dir, 'device-process.snapshot.blob');
    copyFileSync(startupSnapshotFile('device-process'), moved);
    const r = spawnSync(process.execPath, ['--snapshot-blob', moved], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`${moved} was built at ${startupSnapshotFile('device-process')}: run \`npm run build\` again`);
  });
});
