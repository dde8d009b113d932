// Bad input gets one clear line on stderr and a non-zero status — never a
// stack trace, a crash or a hang. These need no KVM: the frontend refuses
// them first (cli-errors.kvm.test.ts has those that need KVM).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../src/project-root.js';
import { expectCleanError, GUEST_BIN, runTsvmm } from '../support/run-tsvmm.js';

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const hello = join(GUEST_BIN, 'real-hello.bin');
const fifo = join(dir, 'fifo');
execFileSync('mkfifo', [fifo]);

describe('CLI usage errors', () => {
  it('exec wants a command, and a root that exists', async () => {
    expectCleanError(await runTsvmm(['exec']), /name the command to run after --/);
    expectCleanError(await runTsvmm(['exec', '--rootfs', join(dir, 'nope'), '--', 'true']), /cannot share the root .*nope: no such directory/);
  });

  it('names a missing kernel', async () => {
    expectCleanError(await runTsvmm(['run', '--kernel', join(dir, 'nope')]), /cannot read the kernel .*nope: no such file/);
  });

  it('names a missing initrd', async () => {
    expectCleanError(await runTsvmm(['run', '--kernel', hello, '--initrd', join(dir, 'nope.cpio')]), /cannot read the initrd .*nope.cpio: no such file/);
  });

  it('refuses devices and FIFOs as images: a FIFO blocks the open, /dev/zero never ends', async () => {
    expectCleanError(await runTsvmm(['run', '--kernel', hello, '--initrd', '/dev/zero']), /cannot read the initrd \/dev\/zero: not a regular file/);
    expectCleanError(await runTsvmm(['run', '--kernel', fifo]), /cannot read the kernel .*fifo: not a regular file/);
    expectCleanError(await runTsvmm(['run', '--raw-payload', '/dev/zero']), /cannot read the payload \/dev\/zero: not a regular file/);
  });

  it('refuses a FIFO as a disk instead of blocking in open', async () => {
    expectCleanError(await runTsvmm(['run', '--raw-payload', hello, '--disk', `${fifo},ro`]), /cannot use the disk .*fifo: not a regular file or block device/);
    expectCleanError(await runTsvmm(['run', '--raw-payload', hello, '--disk', fifo]), /cannot use the disk .*fifo: not a regular file or block device/);
  });

  it('exits after a start-up error although a disk device process is running', async () => {
    // Here without /dev/kvm the frontend cannot open it, before any process
    // starts; with KVM the helper refuses the empty payload while the device
    // process started alongside it runs.
    const disk = join(dir, 'separate.img');
    writeFileSync(disk, '');
    truncateSync(disk, 1 << 20);
    const empty = join(dir, 'empty.bin');
    writeFileSync(empty, '');
    const r = await runTsvmm(['run', '--raw-payload', empty, '--disk', `${disk},process=separate`]);
    expectCleanError(r, /\/dev\/kvm does not exist|the real-mode payload is empty/);
  });

  it('refuses an initrd larger than guest RAM before the helper reads it', async () => {
    const big = join(dir, 'big.cpio');
    writeFileSync(big, '');
    truncateSync(big, (16 << 20) + 1); // sparse
    expectCleanError(await runTsvmm(['run', '--kernel', hello, '--initrd', big, '--mem', '16M']), /the initrd .*big.cpio is 16777217 bytes, more than the guest's 16M of RAM/);
  });

  describe('--control-socket PATH', () => {
    const empty = join(dir, 'empty-payload.bin');
    writeFileSync(empty, '');
    // Without /dev/kvm the run then fails at the helper (with KVM: on the empty payload).
    const LATER_ERROR = /\/dev\/kvm does not exist|the real-mode payload is empty/;

    it('refuses a file that is not a socket, and leaves it alone', async () => {
      const image = join(dir, 'precious.img');
      writeFileSync(image, 'data');
      expectCleanError(await runTsvmm(['run', '--raw-payload', empty, '--control-socket', image]), /--control-socket .*precious.img: something that is not a socket is there; refusing to replace it/);
      expect(readFileSync(image, 'utf8')).toBe('data');
    });

    it('refuses a socket someone listens on, and leaves it alone', async () => {
      const path = join(dir, 'live.sock');
      const server = createServer((s) => s.end());
      await new Promise<void>((resolve) => server.listen(path, resolve));
      try {
        expectCleanError(await runTsvmm(['run', '--raw-payload', empty, '--control-socket', path]), /--control-socket .*live.sock: another process is listening/);
        await new Promise<void>((resolve, reject) => connect(path, resolve).on('error', reject));
      } finally {
        server.close();
      }
    });

    it('replaces a stale socket, and removes its own at exit', async () => {
      const path = join(dir, 'stale.sock');
      spawnSync(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, 'SIGKILL'))`]);
      expect(existsSync(path)).toBe(true);
      expectCleanError(await runTsvmm(['run', '--raw-payload', empty, '--control-socket', path]), LATER_ERROR);
      expect(existsSync(path)).toBe(false);
    });

    it('turns a listen error into one line', async () => {
      expectCleanError(await runTsvmm(['run', '--raw-payload', empty, '--control-socket', join(dir, 'no-such-dir', 'ctl.sock')]), /--control-socket .*ctl.sock: cannot listen: E[A-Z]+$/m);
    });
  });

  it('names what is wrong with a --net option, and a passt it cannot run', async () => {
    expectCleanError(await runTsvmm(['run', '--raw-payload', hello, '--net', 'user,hostfwd=tcp:99999-:80']), /--net "user,hostfwd=tcp:99999-:80": hostfwd .*port 99999 is not in 1\.\.65535/);
    expectCleanError(await runTsvmm(['run', '--raw-payload', hello, '--net', 'bridge=br0']), /--net "bridge=br0": unknown network kind "bridge"/);
    expectCleanError(
      await runTsvmm(['run', '--raw-payload', hello, '--net', 'user'], { env: { TSVMM_PASST: join(dir, 'no-passt') } }),
      /TSVMM_PASST=.*no-passt is not an executable file/,
    );
    expectCleanError(await runTsvmm(['run', '--raw-payload', hello, '--net', `stream=${join(dir, 'none.sock')}`]), /cannot connect to .*none\.sock: no such socket/);
  });

  it('names what is wrong with a --share option, and a missing directory', async () => {
    expectCleanError(await runTsvmm(['run', '--raw-payload', hello, '--share', `${dir},tag=a b`]), /--share ".*": tag must be 1 to 64 letters/);
    expectCleanError(await runTsvmm(['run', '--raw-payload', hello, '--share', `${dir},rw`]), /--share ".*": unknown option "rw"/);
    expectCleanError(await runTsvmm(['run', '--raw-payload', hello, '--share', join(dir, 'no-dir')]), /cannot share .*no-dir: no such directory/);
    const machine = join(dir, 'share-machine.json');
    const microvm = JSON.parse(readFileSync(join(PROJECT_ROOT, 'machines', 'microvm.json'), 'utf8'));
    microvm.devices.push({ type: 'virtio-9p', name: 'data', share: `${dir},tag=` });
    writeFileSync(machine, JSON.stringify(microvm));
    expectCleanError(await runTsvmm(['run', '--raw-payload', hello, '--machine', machine]), /devices\[\d+\]\.share: --share ".*": tag must be/);
  });

  it('names a vCPU count it cannot give', async () => {
    for (const bad of ['0', '255', 'two', '1.5'])
      expectCleanError(await runTsvmm(['run', '--raw-payload', hello, '--cpus', bad]), new RegExp(`--cpus ${bad.replace('.', '\\.')}: expected a whole number of vCPUs from 1 to 254`));
  });

  it('rejects an unknown option', async () => {
    const r = await runTsvmm(['run', '--kernal', 'x']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/Unknown argument: kernal/);
  });

  it('reports a bad machine file with the field at fault', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ name: 'bad', memory: { defaultSize: '64M', mmioGap: { start: 0, end: 4096 } }, devices: [{ type: 'uart16550', port: 'COM1', irq: 4 }] }));
    expectCleanError(await runTsvmm(['run', '--raw-payload', hello, '--machine', bad]), /bad.json: devices\[0\].port: expected a non-negative integer/);
    // A placement the parser now refuses; it used to fail at start-up with a stack trace.
    writeFileSync(bad, JSON.stringify({ name: 'bad', memory: { defaultSize: '64M', mmioGap: { start: '0xc0000000', end: '0x100000000' } }, devices: [{ type: 'virtio-mmio', base: '0x100000', slotSize: '0x1000', irqs: [5] }] }));
    expectCleanError(await runTsvmm(['run', '--raw-payload', hello, '--machine', bad]), /bad.json: devices\[0\].base: MMIO 0x100000..0x100fff is not inside memory.mmioGap/);
    writeFileSync(bad, '{ not json');
    expectCleanError(await runTsvmm(['run', '--raw-payload', hello, '--machine', bad]), /bad.json: not valid JSON/);
    expectCleanError(await runTsvmm(['run', '--raw-payload', hello, '--machine', 'nonesuch']), /no machine named "nonesuch"/);
  });
});
