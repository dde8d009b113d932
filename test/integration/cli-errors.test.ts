// Bad input gets one clear line on stderr and a non-zero status — never a
// stack trace, a crash or a hang.
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeKvm } from '../support/kvm.js';
import { GUEST_BIN, runTsvmm } from '../support/run-tsvmm.js';

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-cli-'));
const hello = join(GUEST_BIN, 'real-hello.bin');

function expectCleanError(r: { status: number | null; stderr: string; timedOut: boolean }, message: RegExp) {
  expect(r.timedOut).toBe(false);
  expect(r.status).toBe(2);
  expect(r.stderr).toMatch(message);
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
}

describe('CLI usage errors', () => {
  it('names a missing kernel', async () => {
    expectCleanError(await runTsvmm(['run', '--kernel', join(dir, 'nope')]), /cannot read the kernel .*nope: no such file/);
  });

  it('names a missing initrd', async () => {
    expectCleanError(await runTsvmm(['run', '--kernel', hello, '--initrd', join(dir, 'nope.cpio')]), /cannot read the initrd .*nope.cpio: no such file/);
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
    writeFileSync(bad, '{ not json');
    expectCleanError(await runTsvmm(['run', '--raw-payload', hello, '--machine', bad]), /bad.json: not valid JSON/);
    expectCleanError(await runTsvmm(['run', '--raw-payload', hello, '--machine', 'nonesuch']), /no machine named "nonesuch"/);
  });
});

describeKvm('CLI errors that need KVM', () => {
  it.each([
    ['1M', /guest memory of 1M is too small/],
    ['64G', /guest memory of 64G is more than this host's/],
    ['100T', /guest memory of 100T is more than tsvmm supports/],
    ['16777217', /not a multiple of 4 KiB/],
    ['lots', /--mem lots: expected a size/],
  ])('rejects an impossible memory size %s', async (mem, message) => {
    expectCleanError(await runTsvmm(['run', '--raw-payload', hello, '--mem', mem]), message);
  });

  it.each([
    ['random bytes', () => Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) & 0xff))],
    ['a truncated ELF', () => Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, ...new Array(40).fill(0)])],
    ['a bzImage header with a truncated payload', () => {
      const b = Buffer.alloc(0x1000);
      b.writeUInt16LE(0xaa55, 0x1fe);
      b.write('HdrS', 0x202, 'latin1');
      b.writeUInt16LE(0x020f, 0x206);
      b[0x1f1] = 4; // setup_sects
      return b;
    }],
  ])('names what is wrong with a corrupt kernel (%s)', async (_what, make) => {
    const kernel = join(dir, 'bad-kernel');
    writeFileSync(kernel, make());
    const r = await runTsvmm(['run', '--kernel', kernel, '--log-level', 'warn']);
    expect(r.timedOut).toBe(false);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/tsvmm: .*(not a Linux kernel|ELF|truncated|bzImage|setup|payload|protocol)/i);
    expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  });

  it('rejects an empty payload', async () => {
    const empty = join(dir, 'empty.bin');
    writeFileSync(empty, '');
    expectCleanError(await runTsvmm(['run', '--raw-payload', empty]), /payload is empty/);
  });
});
