// Bad input that gets past the frontend's own checks (guest memory, kernels
// that are not what they say) gets one clear line on stderr and a non-zero
// status — never a stack trace, a crash or a hang. These need KVM.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeKvm } from '../support/host-requirements.js';
import { expectCleanError, GUEST_BIN, runTsvmm } from '../support/run-tsvmm.js';

const dir = mkdtempSync(join(tmpdir(), 'tsvmm-cli-kvm-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const hello = join(GUEST_BIN, 'real-hello.bin');

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
